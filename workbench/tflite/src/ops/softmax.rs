//! SOFTMAX: inputs (input), over the last dimension.

use alloc::format;
use alloc::string::String;
#[cfg(feature = "export")]
use flatbuffers::FlatBufferBuilder;

#[cfg(feature = "export")]
use super::Options;
use super::{OpDef, Operands};
use crate::graph::Op;
#[cfg(feature = "export")]
use crate::graph::{Graph, Node};
use crate::prepare::{args, i8s, In, Kernel, Kernels, Out, Prep};
use crate::schema as fb;
use kernels_int8 as k;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::SOFTMAX,
    inputs: 1..=1,
    operands: Operands::First(1),
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
    let o = op
        .builtin_options_as_softmax_options()
        .ok_or("missing SoftmaxOptions")?;
    Ok(Op::Softmax { beta: o.beta() })
}

#[cfg(feature = "export")]
fn export(op: &Op, _graph: &Graph, _node: &Node, fbb: &mut FlatBufferBuilder<'_>) -> Options {
    let Op::Softmax { beta } = op else {
        return Options::NONE;
    };
    let t = fb::SoftmaxOptions::create(fbb, &fb::SoftmaxOptionsArgs { beta: *beta });
    Options {
        kind: fb::BuiltinOptions::SoftmaxOptions,
        table: Some(t.as_union_value()),
    }
}

#[cfg(feature = "export")]
/// int8 SOFTMAX is version 2, float 1, as TF's converter writes them.
fn version(_op: &Op, graph: &Graph, node: &Node) -> i32 {
    if super::float_input(graph, node) {
        1
    } else {
        2
    }
}

/// int8 SOFTMAX (TFLite's `softmax.cc` Prepare, `PreprocessSoftmaxScaling`).
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let Op::Softmax { beta } = &p.node.op else {
        return Err(p.err("options are not SoftmaxOptions"));
    };
    let (input, out) = (p.input(0)?, p.output());
    if p.tensor(input).dtype == crate::graph::DType::F32 {
        return super::float::softmax(p, *beta);
    }
    let (in_scale, _) = p.int8_act("input", input)?;
    let (out_scale, out_zp) = p.int8_act("output", out)?;
    // softmax.cc: int8 output zero point -128, scale 1/256 within 0.1%.
    if (out_scale - 1.0 / 256.0).abs() > 0.001 / 256.0 || out_zp != -128 {
        return Err(p.err(format!(
            "output tensor {out}: int8 softmax needs scale 1/256 and zero point -128, got {out_scale} and {out_zp}"
        )));
    }
    let shape = p.tensor(input).shape;
    if shape != p.tensor(out).shape || shape.is_empty() {
        return Err(p.err(format!(
            "output tensor {out} shape {:?} differs from input tensor {input} shape {shape:?}",
            p.tensor(out).shape
        )));
    }
    // PreprocessSoftmaxScaling: beta * input_scale * 2^(31 - 5) must exceed 1.
    let real = f64::from(*beta) * f64::from(in_scale) * f64::from(1u32 << 26);
    if !(real > 1.0 && real.is_finite()) {
        return Err(p.err(format!(
            "beta {beta} with input scale {in_scale} is out of range for int8 softmax"
        )));
    }
    Ok(Kernel::Softmax {
        params: k::softmax::prepare(f64::from(*beta), f64::from(in_scale)),
        depth: *shape.last().unwrap_or(&1),
    })
}

/// Runs SOFTMAX.
fn eval(kernel: &Kernel, ins: &[In<'_>], outs: &mut [Out<'_>], _: &mut [i8], _: Kernels) {
    let Some((x, y, out)) = args(ins, outs) else {
        return;
    };
    if let Kernel::Float { .. } = kernel {
        super::float::eval(kernel, x, y, out);
        return;
    }
    if let (Kernel::Softmax { params, depth }, Out::I8(o)) = (kernel, out) {
        k::softmax::softmax(params, *depth, i8s(x), o);
    }
}
