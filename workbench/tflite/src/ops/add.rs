//! ADD: inputs (a, b).

use alloc::format;
use alloc::string::String;
#[cfg(feature = "export")]
use flatbuffers::FlatBufferBuilder;

use super::{activation_from_fb, OpDef};
#[cfg(feature = "export")]
use super::{activation_to_fb, Options};
use crate::graph::{Activation, Op};
#[cfg(feature = "export")]
use crate::graph::{Graph, Node};
use crate::prepare::{i8s, In, Kernel, Kernels, Out, Prep};
use crate::schema as fb;
use kernels_int8 as k;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::ADD,
    inputs: 2..=2,
    operands: 2,
    import,
    #[cfg(feature = "export")]
    export,
    #[cfg(feature = "export")]
    version,
    prepare,
    eval,
};

fn import(op: &fb::Operator<'_>) -> Result<Op, String> {
    let activation = match op.builtin_options_as_add_options() {
        Some(o) => activation_from_fb(o.fused_activation_function())?,
        None => Activation::None,
    };
    Ok(Op::Add { activation })
}

#[cfg(feature = "export")]
fn export(op: &Op, _graph: &Graph, _node: &Node, fbb: &mut FlatBufferBuilder<'_>) -> Options {
    let Op::Add { activation } = op else {
        return Options::NONE;
    };
    let t = fb::AddOptions::create(
        fbb,
        &fb::AddOptionsArgs {
            fused_activation_function: activation_to_fb(*activation),
            ..Default::default()
        },
    );
    Options {
        kind: fb::BuiltinOptions::AddOptions,
        table: Some(t.as_union_value()),
    }
}

#[cfg(feature = "export")]
/// int8 ADD is version 2, as TF's converter writes it.
fn version(_op: &Op, _graph: &Graph, _node: &Node) -> i32 {
    2
}

/// int8 ADD of same-shaped tensors (TFLite's `add.cc` Prepare).
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let Op::Add { activation } = &p.node.op else {
        return Err(p.err("options are not AddOptions"));
    };
    let (a, b, out) = (p.input(0)?, p.input(1)?, p.output());
    let (a_scale, a_zp) = p.int8_act("input", a)?;
    let (b_scale, b_zp) = p.int8_act("input", b)?;
    let (out_scale, out_zp) = p.int8_act("output", out)?;
    let shape = p.tensor(out).shape;
    for t in [a, b] {
        if p.tensor(t).shape != shape {
            return Err(p.err(format!(
                "input tensor {t} shape {:?} differs from output tensor {out} shape {shape:?} (broadcasting is not supported)",
                p.tensor(t).shape
            )));
        }
    }
    let (activation_min, activation_max) = p.activation(*activation, out_scale, out_zp);
    Ok(Kernel::Add(k::add::prepare(
        a_scale,
        a_zp,
        b_scale,
        b_zp,
        out_scale,
        out_zp,
        activation_min,
        activation_max,
    )))
}

/// Runs ADD.
fn eval(kernel: &Kernel, x: In<'_>, y: In<'_>, out: Out<'_>, _: &mut [i8], _: Kernels) {
    if let (Kernel::Add(params), Out::I8(o)) = (kernel, out) {
        k::add::add(params, i8s(x), i8s(y), o);
    }
}
