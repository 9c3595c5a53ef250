//! Folding batch normalization into the layer before it, for export.
//!
//! In inference mode a batch norm is a per-channel affine map,
//! `y = s * x + (beta - s * mean)` with `s = gamma / sqrt(var + eps)`. After
//! a convolution, depthwise convolution or dense layer without activation
//! (`x = w * in + b`) it folds into that layer: `w' = s * w` (per output
//! channel) and `b' = s * (b - mean) + beta`, and the batch norm's fused
//! activation becomes the layer's. TFLite's converter does the same, and
//! leaves a batch norm it cannot fold (first, or after an activation) as
//! it is: [`fold_foldable_batch_norms`], which `quant::build_float` applies.

use candle_core::{DType, Tensor, Var};

use super::layer::Layer;
use super::sequential::Sequential;
use super::vocab::Activation;
use crate::{Error, Result};

/// A copy of `model` with every batch norm folded into the convolution,
/// depthwise convolution or dense layer before it (which must have no
/// activation of its own); the variables are new, the model untouched.
pub fn fold_batch_norm(model: &Sequential) -> Result<Sequential> {
    fold(model, true)
}

/// A copy of `model` with the batch norms that can fold folded (as
/// [`fold_batch_norm`]) and the others kept, as TFLite's converter does: a
/// batch norm first, after an activation or after a layer other than a
/// convolution or dense layer stays a batch norm.
pub fn fold_foldable_batch_norms(model: &Sequential) -> Result<Sequential> {
    fold(model, false)
}

/// Folds every batch norm; an unfoldable one is an error when `strict`, else kept.
fn fold(model: &Sequential, strict: bool) -> Result<Sequential> {
    let mut layers: Vec<(String, Layer)> = Vec::with_capacity(model.layers.len());
    for (name, layer) in &model.layers {
        if !matches!(layer, Layer::BatchNorm { .. }) {
            layers.push((name.clone(), layer.deep_copy()?));
            continue;
        }
        match layers.last_mut() {
            Some((prev_name, prev)) => match fold_into(name, layer, prev_name, prev) {
                Ok(()) => {}
                Err(e) if strict => return Err(e),
                Err(_) => layers.push((name.clone(), layer.deep_copy()?)),
            },
            None if strict => {
                return Err(Error::Model(format!(
                    "fold batch norm {name}: it is the first layer; nothing to fold it into"
                )))
            }
            None => layers.push((name.clone(), layer.deep_copy()?)),
        }
    }
    Ok(Sequential {
        layers,
        input_shape: model.input_shape,
    })
}

/// Folds batch norm `bn` (named `name`) into `prev`, or says why it cannot (leaving `prev` as it was).
fn fold_into(name: &str, bn: &Layer, prev_name: &str, prev: &mut Layer) -> Result<()> {
    let Layer::BatchNorm {
        gamma,
        beta,
        running_mean,
        running_var,
        config,
        activation: bn_act,
    } = bn
    else {
        return Err(Error::Model(format!(
            "fold batch norm {name}: it is a {}, not a batch norm",
            bn.kind()
        )));
    };
    let f64v =
        |v: &Var| -> Result<Vec<f64>> { Ok(v.as_tensor().to_dtype(DType::F64)?.to_vec1::<f64>()?) };
    let (g, b, m, v) = (
        f64v(gamma)?,
        f64v(beta)?,
        f64v(running_mean)?,
        f64v(running_var)?,
    );
    let scale: Vec<f64> = g
        .iter()
        .zip(&v)
        .map(|(g, v)| g / (v + config.epsilon).sqrt())
        .collect();
    let kind = prev.kind();
    let (weight, bias, act, use_bias) = match prev {
        Layer::Conv2d {
            weight,
            bias,
            activation,
            use_bias,
            ..
        }
        | Layer::DepthwiseConv2d {
            weight,
            bias,
            activation,
            use_bias,
            ..
        } => (weight, bias, activation, Some(use_bias)),
        Layer::Linear {
            weight,
            bias,
            activation,
            ..
        } => (weight, bias, activation, None),
        _ => {
            return Err(Error::Model(format!(
                "fold batch norm {name}: it follows {prev_name} ({kind}); only Conv2D, DepthwiseConv2D and Dense fold"
            )))
        }
    };
    if *act != Activation::None {
        return Err(Error::Model(format!(
            "fold batch norm {name}: {prev_name} ({kind}) has activation {act:?} before it; fold needs None"
        )));
    }
    let o = weight.dim(0)?;
    if o != scale.len() {
        return Err(Error::Model(format!(
            "fold batch norm {name}: {} channels but {prev_name} has {o} outputs",
            scale.len()
        )));
    }
    let w = weight.as_tensor().to_dtype(DType::F64)?;
    let mut wshape = vec![o];
    wshape.resize(w.rank(), 1);
    let s = Tensor::new(scale.as_slice(), w.device())?;
    let new_w = w.broadcast_mul(&s.reshape(wshape.as_slice())?)?;
    let old_b = bias.as_tensor().to_dtype(DType::F64)?.to_vec1::<f64>()?;
    let new_b: Vec<f64> = (0..o)
        .map(|c| scale[c] * (old_b[c] - m[c]) + b[c])
        .collect();
    *weight = Var::from_tensor(&new_w.to_dtype(DType::F32)?)?;
    *bias = Var::from_tensor(&Tensor::new(new_b, w.device())?.to_dtype(DType::F32)?)?;
    *act = *bn_act;
    // A convolution without bias (`use_bias: false`) gets the folded one.
    if let Some(use_bias) = use_bias {
        *use_bias = true;
    }
    Ok(())
}

/// The layer with copies of its variables.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::{BatchNormConfig, Conv2dConfig, Padding};
    use candle_core::Device;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    fn set_random(v: &Var, lo: f32, hi: f32, rng: &mut StdRng) {
        let n = v.elem_count();
        let d: Vec<f32> = (0..n).map(|_| rng.random_range(lo..hi)).collect();
        v.set(&Tensor::from_vec(d, v.shape(), &Device::Cpu).unwrap())
            .unwrap();
    }

    /// conv -> bn+relu -> depthwise -> bn+relu6 -> flatten -> dense -> bn (PyTorch config).
    fn model(rng: &mut StdRng) -> Sequential {
        let layers = vec![
            (
                "conv",
                Layer::conv2d(
                    2,
                    3,
                    (3, 2),
                    Conv2dConfig {
                        stride: (2, 1),
                        padding: Padding::Same,
                        ..Default::default()
                    },
                    rng,
                )
                .unwrap(),
            ),
            (
                "bn1",
                Layer::batch_norm(3, BatchNormConfig::keras(), Activation::Relu).unwrap(),
            ),
            (
                "dw",
                Layer::depthwise_conv2d(
                    3,
                    2,
                    (3, 3),
                    Conv2dConfig {
                        padding: Padding::Same,
                        ..Default::default()
                    },
                    rng,
                )
                .unwrap(),
            ),
            (
                "bn2",
                Layer::batch_norm(6, BatchNormConfig::keras(), Activation::Relu6).unwrap(),
            ),
            ("flatten", Layer::Flatten),
            (
                "dense",
                Layer::linear(6 * 4 * 5, 4, Activation::None, rng).unwrap(),
            ),
            (
                "bn3",
                Layer::batch_norm(4, BatchNormConfig::pytorch(), Activation::None).unwrap(),
            ),
        ];
        let m = Sequential {
            layers: layers.into_iter().map(|(n, l)| (n.into(), l)).collect(),
            input_shape: [2, 7, 5],
        };
        // non-trivial statistics and biases
        for (name, v) in m.named_state() {
            if name.ends_with("running_var") || name.ends_with("gamma") {
                set_random(&v, 0.5, 2.0, rng);
            } else if !name.ends_with("weight") {
                set_random(&v, -0.5, 0.5, rng);
            }
        }
        m
    }

    #[test]
    fn folded_model_computes_the_same() {
        let mut rng = StdRng::seed_from_u64(5);
        let m = model(&mut rng);
        let folded = fold_batch_norm(&m).unwrap();
        let kinds: Vec<&str> = folded.layers.iter().map(|(_, l)| l.kind()).collect();
        assert_eq!(
            kinds,
            ["Conv2D", "DepthwiseConv2D", "Flatten", "Dense"],
            "batch norms are gone"
        );
        let x = Tensor::randn(0f32, 1., (4, 2, 7, 5), &Device::Cpu).unwrap();
        let a = m.forward(&x).unwrap();
        let b = folded.forward(&x).unwrap();
        let d = (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < 1e-5, "max diff {d}");
        // the original model is untouched: its first layer still has no activation
        assert!(matches!(
            m.layers[0].1,
            Layer::Conv2d {
                activation: Activation::None,
                ..
            }
        ));
    }

    #[test]
    fn foldable_batch_norms_fold_and_the_others_stay() {
        let mut rng = StdRng::seed_from_u64(2);
        let mut conv = |activation| {
            let config = Conv2dConfig {
                activation,
                ..Default::default()
            };
            Layer::conv2d(3, 3, (1, 1), config, &mut rng).unwrap()
        };
        let (conv1, conv2) = (conv(Activation::None), conv(Activation::Relu));
        let bn = || Layer::batch_norm(3, BatchNormConfig::keras(), Activation::None).unwrap();
        // bn0 is first, bn1 follows a plain conv (folds), bn2 a ReLU (stays)
        let m = Sequential {
            layers: vec![
                ("bn0".into(), bn()),
                ("conv1".into(), conv1),
                ("bn1".into(), bn()),
                ("conv2".into(), conv2),
                ("bn2".into(), bn()),
            ],
            input_shape: [3, 4, 4],
        };
        for (name, v) in m.named_state() {
            if name.ends_with("running_var") || name.ends_with("gamma") {
                set_random(&v, 0.5, 2.0, &mut rng);
            } else if !name.ends_with("weight") {
                set_random(&v, -0.5, 0.5, &mut rng);
            }
        }
        let folded = fold_foldable_batch_norms(&m).unwrap();
        let names: Vec<&str> = folded.layers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["bn0", "conv1", "conv2", "bn2"], "only bn1 folds");
        let x = Tensor::randn(0f32, 1., (2, 3, 4, 4), &Device::Cpu).unwrap();
        let d = (m.forward(&x).unwrap() - folded.forward(&x).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < 1e-5, "max diff {d}");
    }

    #[test]
    fn unfoldable_batch_norms_are_errors() {
        let mut rng = StdRng::seed_from_u64(1);
        let bn = || Layer::batch_norm(3, BatchNormConfig::keras(), Activation::None).unwrap();
        let first = Sequential {
            layers: vec![("bn".into(), bn())],
            input_shape: [3, 4, 4],
        };
        let e = fold_batch_norm(&first).unwrap_err().to_string();
        assert!(e.contains("first layer"), "{e}");
        let conv = Layer::conv2d(
            1,
            3,
            (1, 1),
            Conv2dConfig {
                activation: Activation::Relu,
                ..Default::default()
            },
            &mut rng,
        )
        .unwrap();
        let after_relu = Sequential {
            layers: vec![("conv".into(), conv), ("bn".into(), bn())],
            input_shape: [1, 4, 4],
        };
        let e = fold_batch_norm(&after_relu).unwrap_err().to_string();
        assert!(e.contains("activation Relu"), "{e}");
    }
}
