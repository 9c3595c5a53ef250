//! Dynamic-range ("hybrid") quantization of a float32 graph, as TensorFlow's
//! converter (TF 2.21) does it with `optimizations = [Optimize.DEFAULT]` and
//! no representative dataset: weights int8, activations float32, run by
//! TFLite's hybrid kernels (which quantize the input on the fly).
//!
//! TF's rules, checked against its own models (`tests/refs/keras3/*_dynamic`):
//! - the constant float32 weights (input 1) of CONV_2D and FULLY_CONNECTED
//!   (per channel along axis 0) and DEPTHWISE_CONV_2D (axis 3) become int8,
//!   symmetric narrow range, zero point 0, `scale = max|w| / 127` per channel;
//! - weights of fewer than [`MIN_ELEMENTS`] elements stay float32, as do biases;
//! - a weight tensor any other op (or another input position) also reads stays float32;
//! - a FULLY_CONNECTED made hybrid gets `asymmetric_quantize_inputs = true`
//!   (CONV_2D and DEPTHWISE_CONV_2D have no such option: TFLite quantizes
//!   their input asymmetrically whenever the filter is per channel).

use super::convert::symmetric_weights;
use crate::tflite::{DType, Graph, Op, Quant};
use crate::{Error, Result};

/// Weight tensors with fewer elements than this stay float32 (TF's `min_elements_for_weights`).
pub const MIN_ELEMENTS: usize = 1024;

/// The quantized axis of an op's weights, if the op has a hybrid kernel.
fn weight_axis(op: &Op) -> Option<usize> {
    match op {
        Op::Conv2d { .. } | Op::FullyConnected { .. } => Some(0),
        Op::DepthwiseConv2d { .. } => Some(3),
        _ => None,
    }
}

/// Which tensors become int8 weights, with their axis (see the module docs).
pub fn hybrid_weights(float: &Graph) -> Vec<Option<usize>> {
    let n = float.tensors.len();
    // Per tensor: the axis every use agrees on, or None once any use disqualifies it.
    let mut axis: Vec<Option<Option<usize>>> = vec![None; n];
    let mut rejected = vec![false; n];
    let float_input = |node: &crate::tflite::Node| {
        node.inputs
            .first()
            .copied()
            .flatten()
            .is_some_and(|t| float.tensors[t].dtype == DType::F32)
    };
    for node in &float.nodes {
        for (k, t) in node.inputs.iter().enumerate() {
            let Some(t) = *t else { continue };
            let a = match weight_axis(&node.op) {
                Some(a) if k == 1 && float_input(node) => a,
                _ => {
                    rejected[t] = true;
                    continue;
                }
            };
            match axis[t] {
                None => axis[t] = Some(Some(a)),
                Some(Some(b)) if b == a => {}
                Some(_) => rejected[t] = true,
            }
        }
    }
    (0..n)
        .map(|t| {
            let tensor = &float.tensors[t];
            let eligible = !rejected[t]
                && tensor.dtype == DType::F32
                && tensor.data.is_some()
                && tensor.num_elements() >= MIN_ELEMENTS;
            axis[t]
                .flatten()
                .filter(|&a| eligible && a < tensor.shape.len())
        })
        .collect()
}

/// The dynamic-range quantized graph of a float32 graph, as TF's converter makes it.
pub fn dynamic_range(float: &Graph) -> Result<Graph> {
    if let Some(t) = float
        .tensors
        .iter()
        .position(|t| t.dtype == DType::I8 && t.data.is_none())
    {
        return Err(Error::Model(format!(
            "dynamic-range quantization takes a float32 model, but tensor {t} ({}) is an int8 activation",
            float.tensors[t].name
        )));
    }
    let mut g = float.clone();
    let axes = hybrid_weights(float);
    for (t, axis) in axes.iter().enumerate() {
        let Some(axis) = *axis else { continue };
        let tensor = &mut g.tensors[t];
        let w: Vec<f32> = tensor
            .data
            .as_deref()
            .unwrap_or_default()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let (scales, q) = symmetric_weights(&w, &tensor.shape, axis, true);
        tensor.dtype = DType::I8;
        tensor.data = Some(q.iter().map(|&v| v as u8).collect());
        tensor.quant = Some(Quant {
            zero_point: vec![0; scales.len()],
            scale: scales,
            axis,
        });
    }
    for node in &mut g.nodes {
        let hybrid = node
            .inputs
            .get(1)
            .copied()
            .flatten()
            .is_some_and(|t| axes[t].is_some());
        if let Op::FullyConnected {
            asymmetric_quantize_inputs,
            ..
        } = &mut node.op
        {
            if hybrid {
                *asymmetric_quantize_inputs = true;
            }
        }
    }
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tflite::{Activation, Tensor};

    fn tensor(name: &str, shape: &[usize], data: Option<Vec<f32>>) -> Tensor {
        Tensor {
            name: name.into(),
            shape: shape.to_vec(),
            dtype: DType::F32,
            quant: None,
            data: data.map(|d| d.iter().flat_map(|v| v.to_le_bytes()).collect()),
        }
    }

    fn fc() -> Op {
        Op::FullyConnected {
            activation: Activation::None,
            keep_num_dims: false,
            asymmetric_quantize_inputs: false,
        }
    }

    /// x -> FC(w) -> y, and w also read by an ADD (or a second FC).
    fn graph(second: Op, big: bool) -> Graph {
        let units = if big { 32 } else { 31 };
        let mut g = Graph::default();
        let x = g.add_tensor(tensor("x", &[1, 32], None));
        let w = g.add_tensor(tensor(
            "w",
            &[units, 32],
            Some((0..units * 32).map(|i| i as f32 - 500.0).collect()),
        ));
        let y = g.add_tensor(tensor("y", &[1, units], None));
        let z = g.add_tensor(tensor("z", &[units, 32], None));
        g.add_node(fc(), vec![Some(x), Some(w), None], vec![y]);
        let ins = match second {
            Op::FullyConnected { .. } => vec![Some(x), Some(w), None],
            _ => vec![Some(w), Some(w)],
        };
        g.add_node(second, ins, vec![z]);
        g.inputs = vec![x];
        g.outputs = vec![y, z];
        g
    }

    #[test]
    fn weights_shared_with_a_non_hybrid_op_stay_float() {
        let add = Op::Add {
            activation: Activation::None,
        };
        let q = dynamic_range(&graph(add, true)).unwrap();
        assert_eq!(q.tensors[1].dtype, DType::F32);
        assert!(matches!(
            q.nodes[0].op,
            Op::FullyConnected {
                asymmetric_quantize_inputs: false,
                ..
            }
        ));
    }

    #[test]
    fn weights_shared_by_hybrid_ops_become_int8_once() {
        let q = dynamic_range(&graph(fc(), true)).unwrap();
        let w = &q.tensors[1];
        assert_eq!(w.dtype, DType::I8);
        let quant = w.quant.as_ref().unwrap();
        assert_eq!((quant.scale.len(), quant.axis), (32, 0));
        assert!(q.nodes.iter().all(|n| matches!(
            n.op,
            Op::FullyConnected {
                asymmetric_quantize_inputs: true,
                ..
            }
        )));
    }

    #[test]
    fn small_weights_stay_float() {
        // 31 x 32 = 992 elements, under the 1024 threshold.
        let q = dynamic_range(&graph(fc(), false)).unwrap();
        assert_eq!(q.tensors[1].dtype, DType::F32);
    }
}
