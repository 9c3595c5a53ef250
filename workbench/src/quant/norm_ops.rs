//! The float32 TFLite ops of the normalization layers that do not fold into
//! a weight, op for op as TF 2.21's converter writes the Keras 3 layers.
//!
//! A batch norm TF cannot fold (after an activation, or first) is
//! `tf.nn.batch_normalization` with constant statistics: MUL by
//! `s = rsqrt(var + eps) * gamma` then ADD of `beta - mean * s`, both `[C]`
//! constants broadcast over the last (channel) axis, the ADD carrying the
//! next activation. When the offset is all zeros the converter drops the ADD.
//!
//! Keras 3's `LayerNormalization` over the last axis (`keras.ops.layer_normalization`):
//! ```text
//! mean = MEAN(x, [-1], keep_dims)          var  = MEAN(SQUARED_DIFFERENCE(x, mean), [-1], keep_dims)
//! neg  = NEG(mean)                         inv  = MUL(RSQRT(ADD(var, eps)), gamma [1, F])
//! res  = ADD(MUL(neg, inv), beta [1, F])   out  = ADD(MUL(x, inv), res)
//! ```
//! in TF's op order: MEAN, NEG, SQUARED_DIFFERENCE, MEAN, ADD, RSQRT, MUL,
//! MUL, ADD, MUL, ADD (without `beta`'s ADD when beta is all zeros).

use crate::tflite::{self, Activation, DType, Graph, Op};
use crate::{Error, Result};

/// Adds a float32 constant.
fn constant(g: &mut Graph, name: String, shape: Vec<usize>, values: &[f32]) -> usize {
    g.add_tensor(tflite::Tensor {
        name,
        shape,
        dtype: DType::F32,
        quant: None,
        data: Some(values.iter().flat_map(|x| x.to_le_bytes()).collect()),
    })
}

/// Adds a float32 activation of `shape`.
fn activation(g: &mut Graph, name: String, shape: Vec<usize>) -> usize {
    g.add_tensor(tflite::Tensor {
        name,
        shape,
        dtype: DType::F32,
        quant: None,
        data: None,
    })
}

/// Per-channel `(scale, offset)` of a batch norm in inference mode, in float32 as TF folds them:
/// `s = rsqrt(var + eps) * gamma`, `offset = beta - mean * s`.
pub fn batch_norm_affine(
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    epsilon: f64,
) -> (Vec<f32>, Vec<f32>) {
    let eps = epsilon as f32;
    let scale: Vec<f32> = gamma
        .iter()
        .zip(var)
        .map(|(g, v)| (v + eps).sqrt().recip() * g)
        .collect();
    let offset = beta
        .iter()
        .zip(mean)
        .zip(&scale)
        .map(|((b, m), s)| b - m * s)
        .collect();
    (scale, offset)
}

/// Appends the MUL (and ADD) of batch norm `name` with per-channel `scale` and `offset` on
/// float tensor `x` (channels last) and returns its output, `activation` fused into the last op.
pub fn batch_norm(
    g: &mut Graph,
    name: &str,
    x: usize,
    (scale, offset): (&[f32], &[f32]),
    activation_fn: Activation,
) -> Result<usize> {
    let shape = g.tensors[x].shape.clone();
    let c = scale.len();
    if shape.last() != Some(&c) || offset.len() != c {
        return Err(Error::Model(format!(
            "batch norm {name}: {c} channels do not fit input shape {shape:?}"
        )));
    }
    let keep_add = offset.iter().any(|&b| b != 0.0);
    let s = constant(g, format!("{name}.scale"), vec![c], scale);
    let mul_act = if keep_add {
        Activation::None
    } else {
        activation_fn
    };
    let mul_name = if keep_add { "mul" } else { "out" };
    let mul = activation(g, format!("{name}.{mul_name}"), shape.clone());
    g.add_node(
        Op::Mul {
            activation: mul_act,
        },
        vec![Some(x), Some(s)],
        vec![mul],
    );
    if !keep_add {
        return Ok(mul);
    }
    let b = constant(g, format!("{name}.offset"), vec![c], offset);
    let out = activation(g, format!("{name}.out"), shape);
    g.add_node(
        Op::Add {
            activation: activation_fn,
        },
        vec![Some(mul), Some(b)],
        vec![out],
    );
    Ok(out)
}

/// Appends layer norm `name` over the last axis of float tensor `x` (`[1, F]`) and returns its output.
pub fn layer_norm(
    g: &mut Graph,
    name: &str,
    x: usize,
    gamma: &[f32],
    beta: &[f32],
    epsilon: f64,
) -> Result<usize> {
    let shape = g.tensors[x].shape.clone();
    let f = gamma.len();
    if shape.len() != 2 || shape[1] != f || beta.len() != f {
        return Err(Error::Model(format!(
            "layer norm {name}: expected input [1, {f}], got {shape:?}"
        )));
    }
    let row = vec![shape[0], 1];
    let axis = g.add_tensor(tflite::Tensor {
        name: format!("{name}.axis"),
        shape: vec![1],
        dtype: DType::I32,
        quant: None,
        data: Some((-1i32).to_le_bytes().to_vec()),
    });
    let mean_op = Op::Mean { keep_dims: true };
    let mean = activation(g, format!("{name}.mean"), row.clone());
    g.add_node(mean_op.clone(), vec![Some(x), Some(axis)], vec![mean]);
    let neg = activation(g, format!("{name}.neg"), row.clone());
    g.add_node(Op::Neg, vec![Some(mean)], vec![neg]);
    let sqd = activation(g, format!("{name}.squared_difference"), shape.clone());
    g.add_node(Op::SquaredDifference, vec![Some(x), Some(mean)], vec![sqd]);
    let var = activation(g, format!("{name}.variance"), row.clone());
    g.add_node(mean_op, vec![Some(sqd), Some(axis)], vec![var]);
    let eps = constant(g, format!("{name}.epsilon"), vec![], &[epsilon as f32]);
    let var_eps = activation(g, format!("{name}.add"), row.clone());
    let none = Activation::None;
    g.add_node(
        Op::Add { activation: none },
        vec![Some(var), Some(eps)],
        vec![var_eps],
    );
    let rsqrt = activation(g, format!("{name}.rsqrt"), row);
    g.add_node(Op::Rsqrt, vec![Some(var_eps)], vec![rsqrt]);
    let gamma_t = constant(g, format!("{name}.gamma"), vec![1, f], gamma);
    let inv = activation(g, format!("{name}.mul"), shape.clone());
    g.add_node(
        Op::Mul { activation: none },
        vec![Some(rsqrt), Some(gamma_t)],
        vec![inv],
    );
    let mut res = activation(g, format!("{name}.mul_1"), shape.clone());
    g.add_node(
        Op::Mul { activation: none },
        vec![Some(neg), Some(inv)],
        vec![res],
    );
    if beta.iter().any(|&b| b != 0.0) {
        let beta_t = constant(g, format!("{name}.beta"), vec![1, f], beta);
        let add = activation(g, format!("{name}.add_1"), shape.clone());
        g.add_node(
            Op::Add { activation: none },
            vec![Some(res), Some(beta_t)],
            vec![add],
        );
        res = add;
    }
    let scaled = activation(g, format!("{name}.mul_2"), shape.clone());
    g.add_node(
        Op::Mul { activation: none },
        vec![Some(x), Some(inv)],
        vec![scaled],
    );
    let out = activation(g, format!("{name}.out"), shape);
    g.add_node(
        Op::Add { activation: none },
        vec![Some(scaled), Some(res)],
        vec![out],
    );
    Ok(out)
}
