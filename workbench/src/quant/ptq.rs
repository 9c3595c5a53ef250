//! Post-training quantization: a float [`Sequential`] and a representative
//! dataset become a TFLite-style int8 [`Graph`].
//!
//! The scheme is TFLite's full-integer one: int8 input and output, int8
//! activations asymmetric per tensor (calibrated min/max over the
//! representative set), int8 weights symmetric per output channel, int32
//! biases, ReLU/ReLU6 fused into the producing op, MAX_POOL_2D and RESHAPE
//! keeping their input's quantization. Layouts change from candle's NCHW /
//! OIHW to TFLite's NHWC / OHWI here, including the column order of a dense
//! layer that follows a flatten.

use candle_core::Tensor;

use super::{norm_ops, params};
use crate::dataset::Samples;
use crate::tflite::runtime::Interpreter;
use crate::tflite::{self, DType, Graph, Op, Padding as TfPadding, Quant, Window};
use crate::train::{fold_foldable_batch_norms, Activation, Layer, Padding, PoolKind, Sequential};
use crate::{Error, Result};

/// An int8 graph made from a float model, with the link back to its layers.
#[derive(Debug, Clone)]
pub struct Int8Model {
    /// The int8 graph, ready to run or export.
    pub graph: Graph,
    /// Graph tensor holding the model input.
    pub input: usize,
    /// For each float layer, the graph tensor holding its output.
    pub layer_outputs: Vec<usize>,
    /// For each float layer, the graph tensor holding its input.
    pub layer_inputs: Vec<usize>,
    /// Calibrated float `(min, max)` of the input (index 0) and of each layer's output.
    pub ranges: Vec<(f32, f32)>,
}

impl Int8Model {
    /// The input's `(scale, zero_point)`.
    pub fn input_quant(&self) -> (f32, i64) {
        tensor_quant(&self.graph, self.input)
    }

    /// Quantizes one float sample laid out like the float model's input (CHW) to the graph's int8 input (HWC).
    pub fn quantize_input(&self, chw: &[f32], shape: [usize; 3]) -> Vec<i8> {
        let (scale, zp) = self.input_quant();
        chw_to_hwc(chw, shape)
            .into_iter()
            .map(|x| params::quantize_value(x, scale, zp))
            .collect()
    }

    /// Every sample quantized to the model's int8 input (NHWC), one vector each.
    pub fn quantize_samples(&self, data: &Samples) -> Vec<Vec<i8>> {
        self.quantized(data).collect()
    }

    /// The samples quantized one at a time.
    fn quantized<'a>(&'a self, data: &'a Samples) -> impl Iterator<Item = Vec<i8>> + 'a {
        let per: usize = data.shape.iter().product();
        data.images
            .chunks(per.max(1))
            .map(move |s| self.quantize_input(s, data.shape))
    }

    /// Predicted classes (argmax of the int8 output) of every sample, run in the int8 interpreter.
    pub fn predict(&self, data: &Samples) -> Result<Vec<usize>> {
        let mut interp = Interpreter::new(self.graph.clone())?;
        let mut preds = Vec::with_capacity(data.len());
        for input in self.quantized(data) {
            interp.set_input_i8(0, &input)?;
            interp.invoke()?;
            let out = interp.output_i8(0)?;
            // The first of equal maxima, as numpy's argmax.
            let best = (0..out.len()).fold(0, |b, i| if out[i] > out[b] { i } else { b });
            preds.push(best);
        }
        Ok(preds)
    }
}

/// `(scale, zero_point)` of a per-tensor quantized graph tensor.
pub fn tensor_quant(graph: &Graph, t: usize) -> (f32, i64) {
    match &graph.tensors[t].quant {
        Some(q) => (q.scale[0], q.zero_point[0]),
        None => (1.0, 0),
    }
}

/// Calibrates: float `(min, max)` of the input and of every layer's output over `data` (N x C x H x W).
pub fn calibrate(model: &Sequential, data: &Tensor, batch: usize) -> Result<Vec<(f32, f32)>> {
    let n = data.dim(0)?;
    let mut ranges = vec![(f32::INFINITY, f32::NEG_INFINITY); model.layers.len() + 1];
    let mut start = 0;
    while start < n {
        let len = batch.min(n - start);
        let x = data.narrow(0, start, len)?;
        let outs = model.forward_all(&x)?;
        for (r, t) in ranges
            .iter_mut()
            .zip(std::iter::once(&x).chain(outs.iter()))
        {
            let v = t.flatten_all()?.to_vec1::<f32>()?;
            for &x in &v {
                r.0 = r.0.min(x);
                r.1 = r.1.max(x);
            }
        }
        start += len;
    }
    Ok(ranges)
}

/// Quantizes `model` to int8 using `representative` (N x C x H x W, preprocessed) for activation ranges.
pub fn quantize(model: &Sequential, representative: &Samples) -> Result<Int8Model> {
    let ranges = calibrate(model, &representative.to_tensor()?, 64)?;
    build(model, &ranges)
}

/// Builds the int8 graph from calibrated ranges (as [`calibrate`] returns them).
pub fn build(model: &Sequential, ranges: &[(f32, f32)]) -> Result<Int8Model> {
    if ranges.len() != model.layers.len() + 1 {
        return Err(Error::Model(format!(
            "quantize: expected {} ranges (input and each layer), got {}",
            model.layers.len() + 1,
            ranges.len()
        )));
    }
    build_graph(model, Some(ranges))
}

/// What [`build_float`] appends to the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FloatOptions {
    /// Append a float SOFTMAX to the logits (default false).
    pub softmax: bool,
}

/// The float32 graph of `model` as TF's converter writes the Keras model without
/// quantization: batch norms that can fold are folded into the layer before
/// them ([`fold_foldable_batch_norms`]), the others become MUL and ADD, a layer
/// norm TF's decomposition (see `norm_ops`); other layers as in the int8 graph.
pub fn build_float(model: &Sequential, options: &FloatOptions) -> Result<Graph> {
    let softmax = options.softmax;
    let mut g = build_graph(&fold_foldable_batch_norms(model)?, None)?.graph;
    g.description = "workbench float32".into();
    if softmax {
        let last = g.outputs[0];
        let shape = g.tensors[last].shape.clone();
        if shape.len() != 2 {
            return Err(Error::Model(format!(
                "float graph: a softmax needs a [1, classes] output, got {shape:?}"
            )));
        }
        let out = g.add_tensor(activation("softmax.out", shape, None));
        g.add_node(Op::Softmax { beta: 1.0 }, vec![Some(last)], vec![out]);
        g.outputs = vec![out];
    }
    Ok(g)
}

/// The graph of `model`: int8 for calibrated `ranges`, float32 without.
fn build_graph(model: &Sequential, ranges: Option<&[(f32, f32)]>) -> Result<Int8Model> {
    let [c, h, w] = model.input_shape;
    let mut g = Graph {
        description: "workbench int8 (post-training quantization)".into(),
        ..Graph::default()
    };
    let range_of = |i: usize| ranges.map(|r| r[i]);
    let input = g.add_tensor(activation("input", vec![1, h, w, c], range_of(0)));
    g.inputs = vec![input];
    // The current activation: tensor index and NHWC-or-flat shape.
    let mut cur = input;
    // The CHW shape of the last 4-D activation, for dense layers after a flatten.
    let mut last_chw = Some([c, h, w]);
    let mut flattened_from: Option<[usize; 3]> = None;
    let mut layer_outputs = Vec::new();
    let mut layer_inputs = Vec::new();
    for (i, (name, layer)) in model.layers.iter().enumerate() {
        layer_inputs.push(cur);
        let range = range_of(i + 1);
        let in_shape = g.tensors[cur].shape.clone();
        let in_scale = ranges.map(|_| tensor_quant(&g, cur).0);
        let out = match layer {
            Layer::Conv2d {
                weight,
                bias,
                stride,
                padding,
                dilation,
                activation: act,
                ..
            } => {
                let (o, ic, kh, kw) = weight.as_tensor().dims4()?;
                if in_shape.len() != 4 || in_shape[3] != ic {
                    return Err(Error::Model(format!(
                        "quantize {name}: conv expects {ic} input channels, input shape is {in_shape:?}"
                    )));
                }
                // OIHW -> OHWI
                let w_ohwi = weight
                    .as_tensor()
                    .permute((0, 2, 3, 1))?
                    .flatten_all()?
                    .to_vec1::<f32>()?;
                let (filter, bias_t) = weights_and_bias(
                    &mut g,
                    name,
                    &w_ohwi,
                    vec![o, kh, kw, ic],
                    &bias.as_tensor().to_vec1::<f32>()?,
                    in_scale,
                )?;
                let pad = tf_padding(*padding);
                let oh = out_size(in_shape[1], kh, stride.0, dilation.0, pad);
                let ow = out_size(in_shape[2], kw, stride.1, dilation.1, pad);
                let out = g.add_tensor(activation(
                    &format!("{name}.out"),
                    vec![1, oh, ow, o],
                    range,
                ));
                g.add_node(
                    Op::Conv2d {
                        window: Window {
                            padding: pad,
                            stride_w: stride.1,
                            stride_h: stride.0,
                        },
                        dilation_w: dilation.1,
                        dilation_h: dilation.0,
                        activation: tf_activation(*act),
                    },
                    vec![Some(cur), Some(filter), Some(bias_t)],
                    vec![out],
                );
                last_chw = Some([o, oh, ow]);
                out
            }
            Layer::Flatten => {
                let n: usize = in_shape[1..].iter().product();
                let shape = g.add_tensor(tflite::Tensor {
                    name: format!("{name}.shape"),
                    shape: vec![2],
                    dtype: DType::I32,
                    quant: None,
                    data: Some([1i32, n as i32].iter().flat_map(|v| v.to_le_bytes()).collect()),
                });
                let mut t = g.tensors[cur].clone();
                t.name = format!("{name}.out");
                t.shape = vec![1, n];
                let out = g.add_tensor(t);
                g.add_node(Op::Reshape, vec![Some(cur), Some(shape)], vec![out]);
                flattened_from = last_chw.take();
                out
            }
            Layer::Linear {
                weight,
                bias,
                activation: act,
            } => {
                let (o, inp) = weight.as_tensor().dims2()?;
                let in_len: usize = in_shape[1..].iter().product();
                if in_len != inp {
                    return Err(Error::Model(format!(
                        "quantize {name}: dense expects {inp} inputs, input shape is {in_shape:?}"
                    )));
                }
                let mut w = weight.as_tensor().flatten_all()?.to_vec1::<f32>()?;
                if let Some(chw) = flattened_from.take() {
                    w = permute_dense_columns(&w, o, chw);
                }
                let (filter, bias_t) = weights_and_bias(
                    &mut g,
                    name,
                    &w,
                    vec![o, inp],
                    &bias.as_tensor().to_vec1::<f32>()?,
                    in_scale,
                )?;
                let out = g.add_tensor(activation(&format!("{name}.out"), vec![1, o], range));
                g.add_node(
                    Op::FullyConnected {
                        activation: tf_activation(*act),
                        keep_num_dims: false,
                        asymmetric_quantize_inputs: false,
                    },
                    vec![Some(cur), Some(filter), Some(bias_t)],
                    vec![out],
                );
                out
            }
            Layer::DepthwiseConv2d {
                weight,
                bias,
                stride,
                padding,
                dilation,
                activation: act,
                ..
            } => {
                let (o, _, kh, kw) = weight.as_tensor().dims4()?;
                let ic = in_shape.get(3).copied().unwrap_or(0);
                if in_shape.len() != 4 || ic == 0 || o % ic != 0 {
                    return Err(Error::Model(format!(
                        "quantize {name}: depthwise conv with {o} outputs does not fit input shape {in_shape:?}"
                    )));
                }
                let w = weight.as_tensor().flatten_all()?.to_vec1::<f32>()?;
                let (filter, bias_t) = depthwise_weights_and_bias(
                    &mut g,
                    name,
                    &w,
                    [o, kh, kw],
                    &bias.as_tensor().to_vec1::<f32>()?,
                    in_scale,
                )?;
                let pad = tf_padding(*padding);
                let oh = out_size(in_shape[1], kh, stride.0, dilation.0, pad);
                let ow = out_size(in_shape[2], kw, stride.1, dilation.1, pad);
                let out = g.add_tensor(activation(
                    &format!("{name}.out"),
                    vec![1, oh, ow, o],
                    range,
                ));
                g.add_node(
                    Op::DepthwiseConv2d {
                        window: Window {
                            padding: pad,
                            stride_w: stride.1,
                            stride_h: stride.0,
                        },
                        dilation_w: dilation.1,
                        dilation_h: dilation.0,
                        depth_multiplier: o / ic,
                        activation: tf_activation(*act),
                    },
                    vec![Some(cur), Some(filter), Some(bias_t)],
                    vec![out],
                );
                last_chw = Some([o, oh, ow]);
                out
            }
            Layer::Pool2d {
                kind,
                kernel,
                stride,
                padding,
            } => {
                if in_shape.len() != 4 {
                    return Err(Error::Model(format!(
                        "quantize {name}: pooling expects a 4-D input, got {in_shape:?}"
                    )));
                }
                let pad = tf_padding(*padding);
                let oh = out_size(in_shape[1], kernel.0, stride.0, 1, pad);
                let ow = out_size(in_shape[2], kernel.1, stride.1, 1, pad);
                // TFLite's int8 pooling keeps its input's scale and zero point
                let mut t = g.tensors[cur].clone();
                t.name = format!("{name}.out");
                t.shape = vec![1, oh, ow, in_shape[3]];
                let out = g.add_tensor(t);
                let window = Window {
                    padding: pad,
                    stride_w: stride.1,
                    stride_h: stride.0,
                };
                let op = match kind {
                    PoolKind::Max => Op::MaxPool2d {
                        window,
                        filter_w: kernel.1,
                        filter_h: kernel.0,
                        activation: tflite::Activation::None,
                    },
                    PoolKind::Average => Op::AveragePool2d {
                        window,
                        filter_w: kernel.1,
                        filter_h: kernel.0,
                        activation: tflite::Activation::None,
                    },
                };
                g.add_node(op, vec![Some(cur)], vec![out]);
                last_chw = Some([in_shape[3], oh, ow]);
                out
            }
            // the identity at inference: the layer's output is its input
            Layer::Dropout { .. } => cur,
            Layer::BatchNorm {
                gamma,
                beta,
                running_mean,
                running_var,
                config,
                activation: act,
            } if ranges.is_none() => {
                let v = |t: &candle_core::Var| t.as_tensor().to_vec1::<f32>();
                let (scale, offset) = norm_ops::batch_norm_affine(
                    &v(gamma)?,
                    &v(beta)?,
                    &v(running_mean)?,
                    &v(running_var)?,
                    config.epsilon,
                );
                norm_ops::batch_norm(&mut g, name, cur, (&scale, &offset), tf_activation(*act))?
            }
            Layer::BatchNorm { .. } => {
                return Err(Error::Model(format!(
                    "quantize {name}: batch norm must be folded first (train::fold_batch_norm), \
                     or quantize build_float's graph with quant::convert"
                )))
            }
            Layer::LayerNorm {
                gamma,
                beta,
                epsilon,
            } if ranges.is_none() => norm_ops::layer_norm(
                &mut g,
                name,
                cur,
                &gamma.as_tensor().to_vec1::<f32>()?,
                &beta.as_tensor().to_vec1::<f32>()?,
                *epsilon,
            )?,
            Layer::LayerNorm { .. } => {
                return Err(Error::Model(format!(
                    "quantize {name}: a layer norm quantizes from the float graph: \
                     quant::convert of build_float's graph"
                )))
            }
            #[allow(unreachable_patterns)]
            other => {
                return Err(Error::Model(format!(
                    "quantize {name}: layer {other:?} is not supported by post-training quantization yet"
                )))
            }
        };
        layer_outputs.push(out);
        cur = out;
    }
    g.outputs = vec![cur];
    Ok(Int8Model {
        graph: g,
        input,
        layer_outputs,
        layer_inputs,
        ranges: ranges.map(<[_]>::to_vec).unwrap_or_default(),
    })
}

/// TFLite's fixed output quantization of an int8 SOFTMAX: scale 1/256, zero point -128.
const SOFTMAX_SCALE: f32 = 1.0 / 256.0;
const SOFTMAX_ZERO_POINT: i64 = -128;

/// Appends a SOFTMAX (beta 1) to the graph's output, as Keras models ending
/// in `activation="softmax"` convert; its output (scale 1/256, zero point
/// -128, TFLite's fixed choice) becomes the graph output. The float model's
/// layers keep their links, so reports are unchanged.
pub fn append_softmax(q: &mut Int8Model) -> Result<()> {
    let Some(&last) = q.graph.outputs.first() else {
        return Err(Error::Model(
            "append softmax: the graph has no output".into(),
        ));
    };
    let shape = q.graph.tensors[last].shape.clone();
    if shape.len() != 2 {
        return Err(Error::Model(format!(
            "append softmax: expected a [1, classes] output, got {shape:?}"
        )));
    }
    let out = q.graph.add_tensor(tflite::Tensor {
        name: "softmax.out".into(),
        shape,
        dtype: DType::I8,
        quant: Some(Quant::per_tensor(SOFTMAX_SCALE, SOFTMAX_ZERO_POINT)),
        data: None,
    });
    q.graph
        .add_node(Op::Softmax { beta: 1.0 }, vec![Some(last)], vec![out]);
    q.graph.outputs = vec![out];
    Ok(())
}

/// An int8 activation tensor quantized for `range`; float32 without a range.
fn activation(name: &str, shape: Vec<usize>, range: Option<(f32, f32)>) -> tflite::Tensor {
    let Some(range) = range else {
        return tflite::Tensor {
            name: name.into(),
            shape,
            dtype: DType::F32,
            quant: None,
            data: None,
        };
    };
    let (scale, zp) = params::asymmetric(range.0, range.1);
    tflite::Tensor {
        name: name.into(),
        shape,
        dtype: DType::I8,
        quant: Some(Quant::per_tensor(scale, zp)),
        data: None,
    }
}

/// Float32 constant tensor bytes.
fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Adds per-channel int8 weights (first axis = output channel) and int32 biases.
fn weights_and_bias(
    g: &mut Graph,
    name: &str,
    w: &[f32],
    shape: Vec<usize>,
    b: &[f32],
    input_scale: Option<f32>,
) -> Result<(usize, usize)> {
    let o = shape[0];
    let Some(input_scale) = input_scale else {
        let filter = g.add_tensor(tflite::Tensor {
            name: format!("{name}.weight"),
            shape,
            dtype: DType::F32,
            quant: None,
            data: Some(f32_bytes(w)),
        });
        return Ok((filter, float_bias(g, name, b)));
    };
    let (scales, q) = params::symmetric_per_channel(w, o);
    let bias = params::bias_i32(b, input_scale, &scales);
    let filter = g.add_tensor(tflite::Tensor {
        name: format!("{name}.weight"),
        shape,
        dtype: DType::I8,
        quant: Some(Quant {
            scale: scales.clone(),
            zero_point: vec![0; o],
            axis: 0,
        }),
        data: Some(q.iter().map(|&v| v as u8).collect()),
    });
    let bias_t = g.add_tensor(tflite::Tensor {
        name: format!("{name}.bias"),
        shape: vec![o],
        dtype: DType::I32,
        quant: Some(Quant {
            scale: scales.iter().map(|s| s * input_scale).collect(),
            zero_point: vec![0; o],
            axis: 0,
        }),
        data: Some(bias.iter().flat_map(|v| v.to_le_bytes()).collect()),
    });
    Ok((filter, bias_t))
}

/// Adds per-channel int8 depthwise weights `[1, kh, kw, O]` (quantized along
/// axis 3) from candle's `[O, 1, kh, kw]` `w`, and int32 biases.
fn depthwise_weights_and_bias(
    g: &mut Graph,
    name: &str,
    w: &[f32],
    [o, kh, kw]: [usize; 3],
    b: &[f32],
    input_scale: Option<f32>,
) -> Result<(usize, usize)> {
    // [O, kh*kw] -> [kh*kw, O]
    let taps = kh * kw;
    let Some(input_scale) = input_scale else {
        let mut hwo = vec![0f32; w.len()];
        for c in 0..o {
            for t in 0..taps {
                hwo[t * o + c] = w[c * taps + t];
            }
        }
        let filter = g.add_tensor(tflite::Tensor {
            name: format!("{name}.weight"),
            shape: vec![1, kh, kw, o],
            dtype: DType::F32,
            quant: None,
            data: Some(f32_bytes(&hwo)),
        });
        return Ok((filter, float_bias(g, name, b)));
    };
    let (scales, q) = params::symmetric_per_channel(w, o);
    let mut hwo = vec![0u8; q.len()];
    for c in 0..o {
        for t in 0..taps {
            hwo[t * o + c] = q[c * taps + t] as u8;
        }
    }
    let bias = params::bias_i32(b, input_scale, &scales);
    let filter = g.add_tensor(tflite::Tensor {
        name: format!("{name}.weight"),
        shape: vec![1, kh, kw, o],
        dtype: DType::I8,
        quant: Some(Quant {
            scale: scales.clone(),
            zero_point: vec![0; o],
            axis: 3,
        }),
        data: Some(hwo),
    });
    let bias_t = g.add_tensor(tflite::Tensor {
        name: format!("{name}.bias"),
        shape: vec![o],
        dtype: DType::I32,
        quant: Some(Quant {
            scale: scales.iter().map(|s| s * input_scale).collect(),
            zero_point: vec![0; o],
            axis: 0,
        }),
        data: Some(bias.iter().flat_map(|v| v.to_le_bytes()).collect()),
    });
    Ok((filter, bias_t))
}

/// Adds a float32 bias tensor.
fn float_bias(g: &mut Graph, name: &str, b: &[f32]) -> usize {
    g.add_tensor(tflite::Tensor {
        name: format!("{name}.bias"),
        shape: vec![b.len()],
        dtype: DType::F32,
        quant: None,
        data: Some(f32_bytes(b)),
    })
}

/// Reorders dense weights `[o, c*h*w]` (candle's CHW flatten) to `[o, h*w*c]` (TFLite's NHWC flatten).
pub fn permute_dense_columns(w: &[f32], o: usize, [c, h, wd]: [usize; 3]) -> Vec<f32> {
    let n = c * h * wd;
    let mut out = vec![0f32; w.len()];
    for row in 0..o {
        for ci in 0..c {
            for hi in 0..h {
                for wi in 0..wd {
                    out[row * n + (hi * wd + wi) * c + ci] = w[row * n + (ci * h + hi) * wd + wi];
                }
            }
        }
    }
    out
}

/// CHW to HWC for one sample.
pub fn chw_to_hwc(x: &[f32], [c, h, w]: [usize; 3]) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    for ci in 0..c {
        for i in 0..h * w {
            out[i * c + ci] = x[ci * h * w + i];
        }
    }
    out
}

/// HWC to CHW for one sample.
pub fn hwc_to_chw(x: &[f32], [c, h, w]: [usize; 3]) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    for ci in 0..c {
        for i in 0..h * w {
            out[ci * h * w + i] = x[i * c + ci];
        }
    }
    out
}

fn tf_padding(p: Padding) -> TfPadding {
    match p {
        Padding::Same => TfPadding::Same,
        Padding::Valid => TfPadding::Valid,
    }
}

fn tf_activation(a: Activation) -> tflite::Activation {
    match a {
        Activation::None => tflite::Activation::None,
        Activation::Relu => tflite::Activation::Relu,
        Activation::Relu6 => tflite::Activation::Relu6,
        Activation::ReluN1To1 => tflite::Activation::ReluN1To1,
    }
}

/// TFLite's output size for one spatial dimension.
pub fn out_size(input: usize, k: usize, stride: usize, dilation: usize, pad: TfPadding) -> usize {
    let dk = (k - 1) * dilation + 1;
    match pad {
        TfPadding::Same => input.div_ceil(stride),
        TfPadding::Valid => (input + 1).saturating_sub(dk).div_ceil(stride),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_sizes() {
        // 28 - 3 + 1 = 26 (valid), 28 / 2 = 14 (same, stride 2), (13 - 2)/2 + 1 = 6 (pool)
        assert_eq!(out_size(28, 3, 1, 1, TfPadding::Valid), 26);
        assert_eq!(out_size(28, 3, 2, 1, TfPadding::Same), 14);
        assert_eq!(out_size(13, 2, 2, 1, TfPadding::Valid), 6);
        // dilation 2 makes a 3-tap kernel span 5: 10 - 5 + 1 = 6
        assert_eq!(out_size(10, 3, 1, 2, TfPadding::Valid), 6);
    }

    #[test]
    fn dense_columns_follow_nhwc() {
        // c=2, h=1, w=2: CHW order [c0w0, c0w1, c1w0, c1w1] -> HWC [c0w0, c1w0, c0w1, c1w1]
        let w = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(
            permute_dense_columns(&w, 1, [2, 1, 2]),
            vec![1.0, 3.0, 2.0, 4.0]
        );
        assert_eq!(chw_to_hwc(&w, [2, 1, 2]), vec![1.0, 3.0, 2.0, 4.0]);
        assert_eq!(hwc_to_chw(&[1.0, 3.0, 2.0, 4.0], [2, 1, 2]), w.to_vec());
    }

    #[test]
    fn unfolded_batch_norm_is_an_error() {
        let m = crate::models::ds_cnn_s(49, 10, 12, 0).unwrap();
        let ranges = vec![(-1.0, 1.0); m.layers.len() + 1];
        let e = build(&m, &ranges).unwrap_err().to_string();
        assert!(e.contains("bn1") && e.contains("folded first"), "{e}");
    }
}
