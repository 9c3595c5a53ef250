//! `.tflite` flatbuffer to [`Graph`].
//!
//! The pieces ([`subgraph`], [`tensor`], [`tensor_list`], [`node`]) are
//! public so the board parses with the same checks and messages while
//! keeping constants in place in the model bytes.

#[cfg(feature = "std")]
use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
#[cfg(feature = "std")]
use std::path::Path;

use crate::error::{Error, Result};
use crate::graph::{DType, Graph, Node, Quant, Tensor};
use crate::ops;
use crate::prepare::Tensors;
use crate::schema as fb;

/// The operator codes table of a model.
pub type Codes<'a> =
    Option<flatbuffers::Vector<'a, flatbuffers::ForwardsUOffset<fb::OperatorCode<'a>>>>;

/// The buffers table of a model.
pub type Buffers<'a> =
    Option<flatbuffers::Vector<'a, flatbuffers::ForwardsUOffset<fb::Buffer<'a>>>>;

/// One tensor as stored in the flatbuffer, its constant data borrowed.
#[derive(Debug, Clone)]
pub struct RawTensor<'a> {
    /// Name (may be empty).
    pub name: &'a str,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Element type as stored (int64 stays [`DType::I64`]).
    pub dtype: DType,
    /// Quantization, if any.
    pub quant: Option<Quant>,
    /// Constant data, `num_elements * dtype.size()` bytes.
    pub data: Option<&'a [u8]>,
}

/// Reads a `.tflite` model from bytes.
pub fn read(bytes: &[u8]) -> Result<Graph> {
    let model = crate::read::model(bytes)?;
    import(&model)
}

/// Reads a `.tflite` model file; errors name the file.
#[cfg(feature = "std")]
pub fn read_file(path: &Path) -> Result<Graph> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read(&bytes).map_err(|e| Error::File {
        path: path.to_path_buf(),
        source: Box::new(e),
    })
}

/// The model's only subgraph, after checking the schema version.
pub fn subgraph<'a>(model: &fb::Model<'a>) -> Result<fb::SubGraph<'a>> {
    if model.version() != 3 {
        return Err(Error::msg(format!(
            "unsupported schema version {}, expected 3",
            model.version()
        )));
    }
    let subgraphs = model
        .subgraphs()
        .ok_or_else(|| Error::msg("model has no subgraphs"))?;
    if subgraphs.len() != 1 {
        return Err(Error::msg(format!(
            "model has {} subgraphs, only single-subgraph models are supported",
            subgraphs.len()
        )));
    }
    Ok(subgraphs.get(0))
}

/// Converts a verified flatbuffer model to a [`Graph`].
pub fn import(model: &fb::Model<'_>) -> Result<Graph> {
    let sg = subgraph(model)?;
    let buffers = model.buffers();

    let mut graph = Graph {
        description: model.description().unwrap_or_default().to_string(),
        params: crate::params::from_model(model)?,
        ..Graph::default()
    };
    for (i, t) in sg.tensors().into_iter().flatten().enumerate() {
        graph.tensors.push(owned(i, tensor(i, &t, buffers)?)?);
    }
    let n = graph.tensors.len();
    graph.inputs = tensor_list(sg.inputs(), n, "subgraph inputs")?;
    graph.outputs = tensor_list(sg.outputs(), n, "subgraph outputs")?;

    let codes = model.operator_codes();
    for (index, op) in sg.operators().into_iter().flatten().enumerate() {
        graph
            .nodes
            .push(node(index, &op, codes, &graph.tensors[..])?);
    }
    Ok(graph)
}

/// A graph tensor from a raw one: constants copied, int64 narrowed to int32.
fn owned(i: usize, t: RawTensor<'_>) -> Result<Tensor> {
    let (dtype, data) = match (t.dtype, t.data) {
        (DType::I64, Some(d)) => (
            DType::I32,
            Some(
                int64_to_int32(d)
                    .map_err(|m| Error::msg(format!("tensor {i} ({}): {m}", t.name)))?,
            ),
        ),
        (dtype, d) => (dtype, d.map(<[u8]>::to_vec)),
    };
    Ok(Tensor {
        name: t.name.to_string(),
        shape: t.shape,
        dtype,
        quant: t.quant,
        data,
    })
}

/// The effective builtin code: the larger of the two fields, as TFLite does.
fn builtin_code(code: &fb::OperatorCode<'_>) -> i32 {
    (code.deprecated_builtin_code() as i32).max(code.builtin_code().0)
}

/// The operator code entry of operator `index`.
fn opcode<'a>(
    index: usize,
    op: &fb::Operator<'_>,
    codes: Codes<'a>,
) -> Result<fb::OperatorCode<'a>> {
    let opcode_index = op.opcode_index() as usize;
    codes
        .filter(|c| opcode_index < c.len())
        .map(|c| c.get(opcode_index))
        .ok_or_else(|| {
            Error::op(
                index,
                "?",
                format!("opcode_index {opcode_index} is out of range"),
            )
        })
}

/// The effective builtin code of operator `index`.
pub fn op_code(index: usize, op: &fb::Operator<'_>, codes: Codes<'_>) -> Result<i32> {
    Ok(builtin_code(&opcode(index, op, codes)?))
}

/// Reads operator `index` into a [`Node`]: tensor indices in range, a
/// supported builtin with the right input and output counts, its options.
pub fn node(
    index: usize,
    op: &fb::Operator<'_>,
    codes: Codes<'_>,
    tensors: &(impl Tensors + ?Sized),
) -> Result<Node> {
    let code = opcode(index, op, codes)?;
    let builtin = builtin_code(&code);
    let name = ops::builtin_name(builtin);
    let n = tensors.count();
    let err = |msg: String| Error::op(index, &name, msg);

    let mut inputs = Vec::new();
    for (k, t) in op.inputs().into_iter().flatten().enumerate() {
        inputs.push(match t {
            -1 => None,
            t if t >= 0 && (t as usize) < n => Some(t as usize),
            t => {
                return Err(err(format!(
                    "input {k}: tensor index {t} out of range (0..{n})"
                )))
            }
        });
    }
    let mut outputs = Vec::new();
    for (k, t) in op.outputs().into_iter().flatten().enumerate() {
        if t < 0 || t as usize >= n {
            return Err(err(format!(
                "output {k}: tensor index {t} out of range (0..{n})"
            )));
        }
        outputs.push(t as usize);
    }

    let Some(def) = ops::by_code(builtin) else {
        let custom = match code.custom_code() {
            Some(c) if builtin == fb::BuiltinOperator::CUSTOM.0 => format!(" '{c}'"),
            _ => String::new(),
        };
        let shapes: Vec<String> = inputs
            .iter()
            .map(|t| match t {
                Some(t) => format!("{:?}", tensors.get(*t).shape),
                None => "none".into(),
            })
            .collect();
        return Err(err(format!(
            "unsupported operator{custom} (builtin code {builtin}), input shapes [{}]",
            shapes.join(", ")
        )));
    };
    if !def.inputs.contains(&inputs.len()) {
        return Err(err(format!(
            "expected {} to {} inputs, got {}",
            def.inputs.start(),
            def.inputs.end(),
            inputs.len()
        )));
    }
    if !def.outputs.contains(&outputs.len()) {
        return Err(err(format!(
            "expected {} to {} outputs, got {}",
            def.outputs.start(),
            def.outputs.end(),
            outputs.len()
        )));
    }
    if inputs.first().copied().flatten().is_none() {
        return Err(err("input 0 is missing".into()));
    }
    let op_value = (def.import)(op).map_err(err)?;
    Ok(Node {
        op: op_value,
        inputs,
        outputs,
    })
}

/// Checked tensor indices of a subgraph's inputs or outputs.
pub fn tensor_list(
    list: Option<flatbuffers::Vector<'_, i32>>,
    n: usize,
    what: &str,
) -> Result<Vec<usize>> {
    list.into_iter()
        .flatten()
        .map(|t| {
            if t >= 0 && (t as usize) < n {
                Ok(t as usize)
            } else {
                Err(Error::msg(format!(
                    "{what}: tensor index {t} out of range (0..{n})"
                )))
            }
        })
        .collect()
}

/// Reads tensor `i`: a static shape of fewer than 2^31 elements, a supported
/// type, in-flatbuffer data of the right size, valid quantization.
pub fn tensor<'a>(i: usize, t: &fb::Tensor<'a>, buffers: Buffers<'a>) -> Result<RawTensor<'a>> {
    let name = t.name().unwrap_or_default();
    let err = |msg: String| Error::msg(format!("tensor {i} ({name}): {msg}"));

    let raw_shape: Vec<i32> = t.shape().into_iter().flatten().collect();
    if raw_shape.iter().any(|&d| d < 0) {
        return Err(err(format!(
            "dynamic shape {raw_shape:?} is not supported, only static shapes"
        )));
    }
    let shape: Vec<usize> = raw_shape.iter().map(|&d| d as usize).collect();
    let elements = crate::validate::checked_elements(&shape)
        .ok_or_else(|| err(format!("shape {shape:?} has more than 2^31 elements")))?;
    if let Some(sig) = t.shape_signature() {
        if sig.len() != shape.len() {
            return Err(err(format!(
                "shape_signature has rank {}, shape {shape:?} has rank {}",
                sig.len(),
                shape.len()
            )));
        }
    }
    if t.is_variable() {
        return Err(err("variable tensors are not supported".into()));
    }
    if t.sparsity().is_some() {
        return Err(err("sparse tensors are not supported".into()));
    }

    let (dtype, src_size) = match t.type_() {
        fb::TensorType::FLOAT32 => (DType::F32, 4),
        fb::TensorType::INT8 => (DType::I8, 1),
        fb::TensorType::INT32 => (DType::I32, 4),
        fb::TensorType::INT64 => (DType::I64, 8),
        other => {
            return Err(err(format!(
                "unsupported type {}",
                other.variant_name().unwrap_or("unknown")
            )))
        }
    };

    let b = t.buffer() as usize;
    let buffer = buffers
        .filter(|bs| b < bs.len())
        .map(|bs| bs.get(b))
        .ok_or_else(|| err(format!("buffer index {b} out of range")))?;
    if buffer.offset() > 1 || buffer.size() > 0 {
        return Err(err(format!(
            "buffer {b} is stored outside the flatbuffer (offset {}, size {}); large-model layout is not supported",
            buffer.offset(),
            buffer.size()
        )));
    }
    let data = match buffer.data() {
        Some(d) if !d.is_empty() => {
            let bytes = d.bytes();
            if bytes.len() != elements * src_size {
                return Err(err(format!(
                    "buffer {b} has {} bytes, shape {shape:?} of {} needs {}",
                    bytes.len(),
                    dtype.name(),
                    elements * src_size
                )));
            }
            Some(bytes)
        }
        _ => {
            if t.type_() == fb::TensorType::INT64 {
                return Err(err("int64 is supported only for constant tensors".into()));
            }
            None
        }
    };

    let quant = match t.quantization() {
        Some(q) => import_quant(&q, &shape).map_err(err)?,
        None => None,
    };
    Ok(RawTensor {
        name,
        shape,
        dtype,
        quant,
        data,
    })
}

/// Narrows little-endian int64 values (e.g. shape tensors) to int32.
fn int64_to_int32(bytes: &[u8]) -> core::result::Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(bytes.len() / 2);
    for c in bytes.chunks_exact(8) {
        let v = i64::from_le_bytes(c.try_into().expect("chunk of 8"));
        let v = i32::try_from(v).map_err(|_| format!("int64 value {v} does not fit in int32"))?;
        out.extend_from_slice(&v.to_le_bytes());
    }
    Ok(out)
}

fn import_quant(
    q: &fb::QuantizationParameters<'_>,
    shape: &[usize],
) -> core::result::Result<Option<Quant>, String> {
    if q.details_type() != fb::QuantizationDetails::NONE {
        return Err("custom quantization details are not supported".into());
    }
    let scale: Vec<f32> = q.scale().into_iter().flatten().collect();
    if scale.is_empty() {
        return Ok(None);
    }
    let zero_point: Vec<i64> = q.zero_point().into_iter().flatten().collect();
    if zero_point.len() != scale.len() {
        return Err(format!(
            "quantization has {} scales and {} zero points",
            scale.len(),
            zero_point.len()
        ));
    }
    let axis = q.quantized_dimension();
    if axis < 0 || (scale.len() > 1 && axis as usize >= shape.len()) {
        return Err(format!(
            "quantized_dimension {axis} out of range for shape {shape:?}"
        ));
    }
    let axis = axis as usize;
    if scale.len() > 1 && shape[axis] != scale.len() {
        return Err(format!(
            "{} per-channel scales, but dimension {axis} of shape {shape:?} is {}",
            scale.len(),
            shape[axis]
        ));
    }
    Ok(Some(Quant {
        scale,
        zero_point,
        axis,
    }))
}
