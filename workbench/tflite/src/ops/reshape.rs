//! RESHAPE: inputs (input, shape?); the output tensor's shape is authoritative.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
#[cfg(feature = "export")]
use flatbuffers::FlatBufferBuilder;

#[cfg(feature = "export")]
use super::{to_i32, Options};
use super::{OpDef, Operands};
use crate::graph::DType;
use crate::graph::Op;
#[cfg(feature = "export")]
use crate::graph::{Graph, Node};
use crate::prepare::{args, f32s, i8s, In, Kernel, Kernels, Out, Prep};
use crate::schema as fb;
use kernels_int8 as k;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::RESHAPE,
    inputs: 1..=2,
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

fn import(_op: &fb::Operator<'_>) -> Result<Op, String> {
    Ok(Op::Reshape)
}

#[cfg(feature = "export")]
/// Like TF's converter: no options when the shape comes from the shape
/// input; without one, `new_shape` is the output tensor's shape (TFLite then
/// reads the shape from the options).
fn export(_op: &Op, graph: &Graph, node: &Node, fbb: &mut FlatBufferBuilder<'_>) -> Options {
    if node.inputs.get(1).copied().flatten().is_some() {
        return Options::NONE;
    }
    let shape: Vec<i32> = graph.tensors[node.outputs[0]]
        .shape
        .iter()
        .map(|&d| to_i32(d))
        .collect();
    let new_shape = fbb.create_vector(&shape);
    let t = fb::ReshapeOptions::create(
        fbb,
        &fb::ReshapeOptionsArgs {
            new_shape: Some(new_shape),
        },
    );
    Options {
        kind: fb::BuiltinOptions::ReshapeOptions,
        table: Some(t.as_union_value()),
    }
}

#[cfg(feature = "export")]
/// RESHAPE is version 1, as TF's converter writes it.
fn version(_op: &Op, _graph: &Graph, _node: &Node) -> i32 {
    1
}

/// A copy: same type (int8 or float32) and number of values.
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let (input, out) = (p.input(0)?, p.output());
    let (it, ot) = (p.tensor(input), p.tensor(out));
    if it.dtype != ot.dtype {
        return Err(p.err(format!(
            "input tensor {input} is {}, output tensor {out} is {}",
            it.dtype.name(),
            ot.dtype.name()
        )));
    }
    if !matches!(ot.dtype, DType::I8 | DType::F32) {
        return Err(p.err(format!(
            "output tensor {out}: expected int8 or float32, got {}",
            ot.dtype.name()
        )));
    }
    let mut out_shape = ot.shape.to_vec();
    if let Some(shape) = p.node.inputs.get(1).copied().flatten() {
        // TFLite's RESHAPE resizes its output from the shape tensor: a
        // constant, or the value a SHAPE -> ... -> PACK chain folded to.
        let values = super::fold::known_i32(p, "shape", shape)?;
        out_shape = resolve_shape(p, shape, &values, it.num_elements())?;
        p.resize_output(out_shape.clone());
    }
    if it.num_elements() != out_shape.iter().product::<usize>() {
        return Err(p.err(format!(
            "input tensor {input} {:?} and output tensor {out} {:?} differ in size",
            it.shape, out_shape
        )));
    }
    Ok(Kernel::Reshape)
}

/// The shape a shape vector asks for, its one `-1` taking what is left of
/// `elements` (TFLite's `GetOutputShape`).
fn resolve_shape(
    p: &Prep<'_>,
    t: usize,
    values: &[i32],
    elements: usize,
) -> crate::error::Result<Vec<usize>> {
    let mut unknown = None;
    let mut known = 1usize;
    for (i, &v) in values.iter().enumerate() {
        match v {
            -1 if unknown.is_none() => unknown = Some(i),
            v if v >= 0 => known = known.saturating_mul(v as usize),
            v => return Err(p.err(format!("shape tensor {t}: dimension {v} at {i} is invalid"))),
        }
    }
    let mut shape: Vec<usize> = values.iter().map(|&v| v.max(0) as usize).collect();
    if let Some(i) = unknown {
        if known == 0 || !elements.is_multiple_of(known) {
            return Err(p.err(format!(
                "shape tensor {t}: {values:?} does not divide {elements} values"
            )));
        }
        shape[i] = elements / known;
    }
    Ok(shape)
}

/// Copies the values.
fn eval(_: &Kernel, ins: &[In<'_>], outs: &mut [Out<'_>], _: &mut [i8], _: Kernels) {
    let Some((x, _, out)) = args(ins, outs) else {
        return;
    };
    match out {
        Out::I8(o) => k::reshape::reshape(i8s(x), o),
        Out::F32(o) => k::reshape::reshape(f32s(x), o),
    }
}
