//! FULLY_CONNECTED: inputs (input, weights [out, in], bias?).

use alloc::format;
use alloc::string::String;
#[cfg(feature = "export")]
use flatbuffers::FlatBufferBuilder;

use super::{activation_from_fb, OpDef, Operands};
#[cfg(feature = "export")]
use super::{activation_to_fb, Options};
use crate::graph::Op;
#[cfg(feature = "export")]
use crate::graph::{Graph, Node};
use crate::prepare::{args, i8s, FcRescale, Flavor, In, Kernel, Kernels, Out, Prep};
use crate::schema as fb;
use kernels_int8 as k;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::FULLY_CONNECTED,
    inputs: 2..=3,
    operands: Operands::First(2),
    outputs: 1..=1,
    import,
    #[cfg(feature = "export")]
    export,
    #[cfg(feature = "export")]
    version,
    prepare,
    eval,
};

fn import(op: &fb::Operator<'_>) -> Result<Op, String> {
    let Some(o) = op.builtin_options_as_fully_connected_options() else {
        return Ok(Op::FullyConnected {
            activation: crate::graph::Activation::None,
            keep_num_dims: false,
            asymmetric_quantize_inputs: false,
        });
    };
    if o.weights_format() != fb::FullyConnectedOptionsWeightsFormat::DEFAULT {
        return Err(format!(
            "unsupported weights_format {}",
            o.weights_format().variant_name().unwrap_or("unknown")
        ));
    }
    Ok(Op::FullyConnected {
        activation: activation_from_fb(o.fused_activation_function())?,
        keep_num_dims: o.keep_num_dims(),
        asymmetric_quantize_inputs: o.asymmetric_quantize_inputs(),
    })
}

#[cfg(feature = "export")]
fn export(op: &Op, _graph: &Graph, _node: &Node, fbb: &mut FlatBufferBuilder<'_>) -> Options {
    let Op::FullyConnected {
        activation,
        keep_num_dims,
        asymmetric_quantize_inputs,
    } = op
    else {
        return Options::NONE;
    };
    let t = fb::FullyConnectedOptions::create(
        fbb,
        &fb::FullyConnectedOptionsArgs {
            fused_activation_function: activation_to_fb(*activation),
            keep_num_dims: *keep_num_dims,
            asymmetric_quantize_inputs: *asymmetric_quantize_inputs,
            ..Default::default()
        },
    );
    Options {
        kind: fb::BuiltinOptions::FullyConnectedOptions,
        table: Some(t.as_union_value()),
    }
}

#[cfg(feature = "export")]
/// int8 is version 4 (TF's converter), float 1, either 5 with `keep_num_dims`;
/// hybrid 12 with per-channel weights, else 9 (asymmetric inputs) or 3.
fn version(op: &Op, graph: &Graph, node: &Node) -> i32 {
    match op {
        Op::FullyConnected {
            keep_num_dims: true,
            ..
        } => 5,
        Op::FullyConnected {
            asymmetric_quantize_inputs,
            ..
        } if super::float_input(graph, node) => match super::hybrid_scales(graph, node) {
            Some(n) if n > 1 => 12,
            Some(_) if *asymmetric_quantize_inputs => 9,
            Some(_) => 3,
            None => 1,
        },
        _ => 4,
    }
}

/// int8 FULLY_CONNECTED, per tensor or per channel, rescaled by [`Flavor`]'s rule.
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let Op::FullyConnected {
        activation,
        keep_num_dims,
        asymmetric_quantize_inputs,
    } = &p.node.op
    else {
        return Err(p.err("options are not FullyConnectedOptions"));
    };
    let out = p.output();
    let (input, weights) = (p.input(0)?, p.input(1)?);
    if p.tensor(input).dtype == crate::graph::DType::F32 {
        return super::float::fully_connected(
            p,
            *activation,
            *keep_num_dims,
            *asymmetric_quantize_inputs,
        );
    }
    let (in_scale, in_zp) = p.int8_act("input", input)?;
    p.const_int8("weights", weights)?;
    let (out_scale, out_zp) = p.int8_act("output", out)?;
    let wshape = p.tensor(weights).shape;
    let [units, accum_depth] = *wshape else {
        return Err(p.err(format!(
            "weights tensor {weights}: expected rank 2, got shape {wshape:?}"
        )));
    };
    let in_elems = p.tensor(input).num_elements();
    if accum_depth == 0 || !in_elems.is_multiple_of(accum_depth) {
        return Err(p.err(format!(
            "weights tensor {weights} has {accum_depth} inputs, input tensor {input} has {in_elems}"
        )));
    }
    let batches = in_elems / accum_depth;
    // TFLite's FULLY_CONNECTED resizes its output at prepare: the model's
    // leading dimensions are placeholders where the batch was unknown, but
    // its last one must be the number of units.
    let out_elems = p.tensor(out).num_elements();
    if p.tensor(out).shape.last() != Some(&units) {
        return Err(p.err(format!(
            "output tensor {out} has {out_elems} values, expected {batches} x {units}"
        )));
    }
    let out_shape = if *keep_num_dims {
        let ishape = p.tensor(input).shape;
        let mut s = ishape[..ishape.len().saturating_sub(1)].to_vec();
        s.push(units);
        s
    } else {
        alloc::vec![batches, units]
    };
    if out_shape.iter().product::<usize>() != batches * units {
        return Err(p.err(format!(
            "input tensor {input} shape {:?} does not end in {accum_depth} (keep_num_dims)",
            p.tensor(input).shape
        )));
    }
    p.resize_output(out_shape);
    let scales = p.filter_scales(weights, units, 0)?;
    let bias = p.bias(2, units)?;
    let rescale = match p.flavor {
        // LiteRT's reference FULLY_CONNECTED rescales in double, per tensor or per channel.
        Flavor::LiteRt => FcRescale::Double(
            scales
                .iter()
                .map(|&s| k::fully_connected_litert::effective_scale(in_scale, s, out_scale))
                .collect(),
        ),
        // TFLite Micro (`CalculateOpDataFullyConnected`): per tensor, the scales' product in
        // float then `QuantizeMultiplier(product / s_out)`; per channel as the convolutions
        // (`PopulateConvolutionQuantizationParams`, every factor in double).
        Flavor::Micro if scales.len() == 1 => {
            if !(in_scale * scales[0]).is_finite() {
                return Err(p.err(format!(
                    "input scale {in_scale} times weights scale {} overflows float32",
                    scales[0]
                )));
            }
            let (m, s) = k::requant::fc_multiplier(in_scale, scales[0], out_scale);
            FcRescale::Fixed {
                multiplier: alloc::vec![m],
                shift: alloc::vec![s],
            }
        }
        Flavor::Micro => {
            let mut multiplier = alloc::vec![0; scales.len()];
            let mut shift = alloc::vec![0; scales.len()];
            k::requant::conv_multipliers(in_scale, &scales, out_scale, &mut multiplier, &mut shift);
            FcRescale::Fixed { multiplier, shift }
        }
    };
    let (activation_min, activation_max) = p.activation(*activation, out_scale, out_zp);
    Ok(Kernel::FullyConnected {
        params: k::fully_connected::FullyConnectedParams {
            input_offset: -in_zp,
            weights_offset: 0,
            output_offset: out_zp,
            activation_min,
            activation_max,
        },
        rescale,
        accum_depth,
        bias,
    })
}

/// Runs FULLY_CONNECTED.
fn eval(
    kernel: &Kernel,
    ins: &[In<'_>],
    outs: &mut [Out<'_>],
    scratch: &mut [i8],
    kernels: Kernels,
) {
    let Some((x, y, out)) = args(ins, outs) else {
        return;
    };
    let out = match kernel {
        Kernel::Float { .. } => {
            super::float::eval(kernel, x, y, out);
            return;
        }
        Kernel::Hybrid { .. } => {
            super::float::eval_hybrid(kernel, x, y, out, scratch);
            return;
        }
        _ => out,
    };
    let (
        Kernel::FullyConnected {
            params,
            rescale,
            accum_depth,
            bias,
        },
        Out::I8(o),
    ) = (kernel, out)
    else {
        return;
    };
    let fast = kernels == Kernels::Optimized;
    let (x, y, bias) = (i8s(x), i8s(y), bias.as_deref());
    match rescale {
        FcRescale::Double(scale) => {
            let f = if fast {
                k::fully_connected_litert::fully_connected_fast
            } else {
                k::fully_connected_litert::fully_connected
            };
            f(params, scale, *accum_depth, x, y, bias, o);
        }
        FcRescale::Fixed { multiplier, shift } => {
            let f = if fast {
                k::fully_connected::fully_connected_fast
            } else {
                k::fully_connected::fully_connected
            };
            f(params, multiplier, shift, *accum_depth, x, y, bias, o);
        }
    }
}
