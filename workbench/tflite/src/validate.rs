//! Structural checks of a [`Graph`] before it is written or run.

use alloc::format;
use alloc::string::String;

use crate::error::{Error, Result};
use crate::graph::{Graph, Tensor};
use crate::ops;

/// Checks the graph's structure: tensor indices, constant sizes, quantization
/// lengths and operator input counts.
pub fn validate(graph: &Graph) -> Result<()> {
    let n = graph.tensors.len();
    for (i, t) in graph.tensors.iter().enumerate() {
        validate_tensor(i, t)?;
    }
    for (what, list) in [("input", &graph.inputs), ("output", &graph.outputs)] {
        for &t in list {
            if t >= n {
                return Err(Error::msg(format!(
                    "graph {what} tensor {t} does not exist (graph has {n} tensors)"
                )));
            }
        }
    }
    for (index, node) in graph.nodes.iter().enumerate() {
        let name = node.op.name();
        let def = ops::by_op(&node.op)
            .ok_or_else(|| Error::op(index, name, "operator is not supported"))?;
        if !def.inputs.contains(&node.inputs.len()) {
            return Err(Error::op(
                index,
                name,
                format!(
                    "expected {} to {} inputs, got {}",
                    def.inputs.start(),
                    def.inputs.end(),
                    node.inputs.len()
                ),
            ));
        }
        if node.inputs.first().copied().flatten().is_none() {
            return Err(Error::op(index, name, "input 0 is missing"));
        }
        if !def.outputs.contains(&node.outputs.len()) {
            return Err(Error::op(
                index,
                name,
                format!(
                    "expected {} to {} outputs, got {}",
                    def.outputs.start(),
                    def.outputs.end(),
                    node.outputs.len()
                ),
            ));
        }
        for (k, t) in node.inputs.iter().enumerate() {
            if let Some(t) = *t {
                if t >= n {
                    return Err(Error::op(
                        index,
                        name,
                        format!("input {k}: tensor {t} does not exist (graph has {n} tensors)"),
                    ));
                }
            }
        }
        for (k, &t) in node.outputs.iter().enumerate() {
            if t >= n {
                return Err(Error::op(
                    index,
                    name,
                    format!("output {k}: tensor {t} does not exist (graph has {n} tensors)"),
                ));
            }
            if graph.tensors[t].data.is_some() {
                return Err(Error::op(
                    index,
                    name,
                    format!("output {k}: tensor {t} is a constant"),
                ));
            }
        }
    }
    Ok(())
}

/// The number of elements of `shape` if it is below 2^31.
pub(crate) fn checked_elements(shape: &[usize]) -> Option<usize> {
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n < 1 << 31)
}

fn validate_tensor(i: usize, t: &Tensor) -> Result<()> {
    let err = |msg: String| Error::msg(format!("tensor {i} ({}): {msg}", t.name));
    if t.shape.iter().any(|&d| d > i32::MAX as usize) {
        return Err(err(format!("shape {:?} does not fit in int32", t.shape)));
    }
    if checked_elements(&t.shape).is_none() {
        return Err(err(format!(
            "shape {:?} has more than 2^31 elements",
            t.shape
        )));
    }
    if let Some(data) = &t.data {
        let want = t.num_elements() * t.dtype.size();
        if data.len() != want {
            return Err(err(format!(
                "constant data has {} bytes, shape {:?} of {:?} needs {want}",
                data.len(),
                t.shape,
                t.dtype
            )));
        }
    }
    if let Some(q) = &t.quant {
        if q.scale.is_empty() || q.scale.len() != q.zero_point.len() {
            return Err(err(format!(
                "quantization has {} scales and {} zero points",
                q.scale.len(),
                q.zero_point.len()
            )));
        }
        if q.scale.len() > 1 && t.shape.get(q.axis) != Some(&q.scale.len()) {
            return Err(err(format!(
                "{} per-channel scales along axis {}, shape is {:?}",
                q.scale.len(),
                q.axis,
                t.shape
            )));
        }
    }
    Ok(())
}
