//! RESHAPE: inputs (input, shape?); the output tensor's shape is authoritative.

use alloc::format;
use alloc::string::String;
#[cfg(feature = "export")]
use alloc::vec::Vec;
#[cfg(feature = "export")]
use flatbuffers::FlatBufferBuilder;

use super::OpDef;
#[cfg(feature = "export")]
use super::{to_i32, Options};
use crate::graph::DType;
use crate::graph::Op;
#[cfg(feature = "export")]
use crate::graph::{Graph, Node};
use crate::prepare::{f32s, i8s, In, Kernel, Kernels, Out, Prep};
use crate::schema as fb;
use kernels_int8 as k;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::RESHAPE,
    inputs: 1..=2,
    operands: 1,
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
    if it.num_elements() != ot.num_elements() {
        return Err(p.err(format!(
            "input tensor {input} {:?} and output tensor {out} {:?} differ in size",
            it.shape, ot.shape
        )));
    }
    Ok(Kernel::Reshape)
}

/// Copies the values.
fn eval(_: &Kernel, x: In<'_>, _: In<'_>, out: Out<'_>, _: &mut [i8], _: Kernels) {
    match out {
        Out::I8(o) => k::reshape::reshape(i8s(x), o),
        Out::F32(o) => k::reshape::reshape(f32s(x), o),
    }
}
