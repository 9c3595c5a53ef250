//! [`Graph`] to `.tflite` flatbuffer bytes.

use alloc::format;
use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use flatbuffers::{FlatBufferBuilder, ForwardsUOffset, Push, PushAlignment, Vector, WIPOffset};

use crate::error::{Error, Result};
use crate::graph::{DType, Graph, Op};
use crate::ops;
use crate::params;
use crate::schema as fb;
pub use crate::validate::validate;

/// One byte pushed with 16-byte alignment, to align buffer data like TFLite's
/// `force_align: 16` (only its size and alignment are used).
struct Align16;

impl Push for Align16 {
    type Output = u8;

    unsafe fn push(&self, _dst: &mut [u8], _written_len: usize) {}

    fn size() -> usize {
        1
    }

    fn alignment() -> PushAlignment {
        PushAlignment::new(16)
    }
}

/// A byte vector whose data starts 16-byte aligned in the finished buffer.
fn aligned_bytes<'a>(fbb: &mut FlatBufferBuilder<'a>, data: &[u8]) -> WIPOffset<Vector<'a, u8>> {
    fbb.start_vector::<Align16>(data.len());
    for &b in data.iter().rev() {
        fbb.push(b);
    }
    fbb.end_vector::<u8>(data.len())
}

/// The TFLite runtime version TF records as `min_runtime_version` for an op version.
fn runtime_version(code: fb::BuiltinOperator, version: i32) -> (u32, u32, u32) {
    match (code, version) {
        (
            fb::BuiltinOperator::RESHAPE
            | fb::BuiltinOperator::CONV_2D
            | fb::BuiltinOperator::DEPTHWISE_CONV_2D
            | fb::BuiltinOperator::FULLY_CONNECTED
            | fb::BuiltinOperator::AVERAGE_POOL_2D
            | fb::BuiltinOperator::MAX_POOL_2D
            | fb::BuiltinOperator::SOFTMAX,
            1,
        ) => (1, 5, 0),
        (fb::BuiltinOperator::DEPTHWISE_CONV_2D, 2) => (1, 12, 0),
        // Hybrid (dynamic-range) forms.
        (fb::BuiltinOperator::CONV_2D, 2) | (fb::BuiltinOperator::FULLY_CONNECTED, 3) => (1, 5, 0),
        (fb::BuiltinOperator::CONV_2D, 5) => (2, 4, 0),
        (fb::BuiltinOperator::DEPTHWISE_CONV_2D, 4) => (1, 14, 0),
        (fb::BuiltinOperator::DEPTHWISE_CONV_2D, 6) => (2, 3, 0),
        (fb::BuiltinOperator::FULLY_CONNECTED, 9) => (2, 3, 0),
        (fb::BuiltinOperator::FULLY_CONNECTED, 12) => (2, 17, 0),
        (fb::BuiltinOperator::FULLY_CONNECTED, 5) => (2, 0, 0),
        (fb::BuiltinOperator::QUANTIZE, 2) => (1, 15, 0),
        _ => (1, 14, 0),
    }
}

fn dtype_to_fb(d: DType) -> fb::TensorType {
    match d {
        DType::F32 => fb::TensorType::FLOAT32,
        DType::I8 => fb::TensorType::INT8,
        DType::I32 => fb::TensorType::INT32,
        DType::I64 => fb::TensorType::INT64,
    }
}

/// Writes a graph as a `.tflite` model (schema version 3) that the TFLite interpreter loads.
pub fn write(graph: &Graph) -> Result<Vec<u8>> {
    validate(graph)?;
    let mut fbb = FlatBufferBuilder::with_capacity(1024);

    // Buffer 0 is the empty sentinel; each constant tensor gets its own.
    let mut buffers = vec![fb::Buffer::create(&mut fbb, &fb::BufferArgs::default())];
    let mut tensors = Vec::with_capacity(graph.tensors.len());
    for t in &graph.tensors {
        let buffer = match &t.data {
            Some(data) => {
                let data = aligned_bytes(&mut fbb, data);
                buffers.push(fb::Buffer::create(
                    &mut fbb,
                    &fb::BufferArgs {
                        data: Some(data),
                        ..Default::default()
                    },
                ));
                (buffers.len() - 1) as u32
            }
            None => 0,
        };
        let shape: Vec<i32> = t.shape.iter().map(|&d| ops::to_i32(d)).collect();
        let shape = fbb.create_vector(&shape);
        let name = fbb.create_string(&t.name);
        let quantization = t.quant.as_ref().map(|q| {
            let scale = fbb.create_vector(&q.scale);
            let zero_point = fbb.create_vector(&q.zero_point);
            fb::QuantizationParameters::create(
                &mut fbb,
                &fb::QuantizationParametersArgs {
                    scale: Some(scale),
                    zero_point: Some(zero_point),
                    quantized_dimension: ops::to_i32(q.axis),
                    ..Default::default()
                },
            )
        });
        tensors.push(fb::Tensor::create(
            &mut fbb,
            &fb::TensorArgs {
                shape: Some(shape),
                type_: dtype_to_fb(t.dtype),
                buffer,
                name: Some(name),
                quantization,
                has_rank: true,
                ..Default::default()
            },
        ));
    }

    // Operator codes, one per (code, version), in order of first use.
    let mut codes: Vec<(fb::BuiltinOperator, i32)> = Vec::new();
    let mut operators = Vec::with_capacity(graph.nodes.len());
    for (index, node) in graph.nodes.iter().enumerate() {
        let def = ops::by_op(&node.op)
            .ok_or_else(|| Error::op(index, node.op.name(), "operator is not supported"))?;
        let key = (def.code, (def.version)(&node.op, graph, node));
        let opcode_index = match codes.iter().position(|c| *c == key) {
            Some(p) => p,
            None => {
                codes.push(key);
                codes.len() - 1
            }
        };
        let options = (def.export)(&node.op, graph, node, &mut fbb);
        let mut inputs: Vec<i32> = node
            .inputs
            .iter()
            .map(|t| t.map_or(-1, ops::to_i32))
            .collect();
        // TFLite's CONV_2D and DEPTHWISE_CONV_2D count inputs to find the
        // bias and reject a -1 there; FULLY_CONNECTED takes -1 (as TF writes it).
        if !matches!(node.op, Op::FullyConnected { .. }) {
            while inputs.last() == Some(&-1) {
                inputs.pop();
            }
        }
        let outputs: Vec<i32> = node.outputs.iter().map(|&t| ops::to_i32(t)).collect();
        let inputs = fbb.create_vector(&inputs);
        let outputs = fbb.create_vector(&outputs);
        operators.push(fb::Operator::create(
            &mut fbb,
            &fb::OperatorArgs {
                opcode_index: opcode_index as u32,
                inputs: Some(inputs),
                outputs: Some(outputs),
                builtin_options_type: options.kind,
                builtin_options: options.table,
                ..Default::default()
            },
        ));
    }
    let operator_codes: Vec<_> = codes
        .iter()
        .map(|&(code, version)| {
            fb::OperatorCode::create(
                &mut fbb,
                &fb::OperatorCodeArgs {
                    deprecated_builtin_code: code.0.min(127) as i8,
                    version,
                    builtin_code: code,
                    ..Default::default()
                },
            )
        })
        .collect();

    // min_runtime_version metadata, a NUL-padded 16-byte string as TF writes it.
    let min_runtime = codes
        .iter()
        .map(|&(c, v)| runtime_version(c, v))
        .max()
        .unwrap_or((1, 5, 0));
    let mut version_bytes =
        format!("{}.{}.{}", min_runtime.0, min_runtime.1, min_runtime.2).into_bytes();
    version_bytes.resize(16, 0);
    let version_data = aligned_bytes(&mut fbb, &version_bytes);
    buffers.push(fb::Buffer::create(
        &mut fbb,
        &fb::BufferArgs {
            data: Some(version_data),
            ..Default::default()
        },
    ));
    let metadata_name = fbb.create_string("min_runtime_version");
    let mut metadata = vec![fb::Metadata::create(
        &mut fbb,
        &fb::MetadataArgs {
            name: Some(metadata_name),
            buffer: (buffers.len() - 1) as u32,
        },
    )];

    // Model parameters, MLTK's dictionary flatbuffer in its own buffer.
    if !graph.params.is_empty() {
        let params_data = aligned_bytes(&mut fbb, &graph.params.to_flatbuffer());
        buffers.push(fb::Buffer::create(
            &mut fbb,
            &fb::BufferArgs {
                data: Some(params_data),
                ..Default::default()
            },
        ));
        let name = fbb.create_string(params::METADATA_NAME);
        metadata.push(fb::Metadata::create(
            &mut fbb,
            &fb::MetadataArgs {
                name: Some(name),
                buffer: (buffers.len() - 1) as u32,
            },
        ));
    }

    // A "serving_default" signature naming the graph's inputs and outputs by
    // tensor name, as TF's converter writes one.
    let mut maps = |list: &[usize], prefix: &str| {
        let maps: Vec<_> = list
            .iter()
            .enumerate()
            .map(|(k, &t)| {
                let name = match graph.tensors[t].name.as_str() {
                    "" => format!("{prefix}_{k}"),
                    name => name.to_string(),
                };
                let name = fbb.create_string(&name);
                fb::TensorMap::create(
                    &mut fbb,
                    &fb::TensorMapArgs {
                        name: Some(name),
                        tensor_index: t as u32,
                    },
                )
            })
            .collect();
        fbb.create_vector(&maps)
    };
    let sig_inputs = maps(&graph.inputs, "input");
    let sig_outputs = maps(&graph.outputs, "output");
    let sig_key = fbb.create_string("serving_default");
    let signature = fb::SignatureDef::create(
        &mut fbb,
        &fb::SignatureDefArgs {
            inputs: Some(sig_inputs),
            outputs: Some(sig_outputs),
            signature_key: Some(sig_key),
            subgraph_index: 0,
        },
    );

    let to_i32s = |v: &[usize]| v.iter().map(|&t| ops::to_i32(t)).collect::<Vec<i32>>();
    let sg_tensors = fbb.create_vector(&tensors);
    let sg_inputs = fbb.create_vector(&to_i32s(&graph.inputs));
    let sg_outputs = fbb.create_vector(&to_i32s(&graph.outputs));
    let sg_operators = fbb.create_vector(&operators);
    let sg_name = fbb.create_string("main");
    let subgraph = fb::SubGraph::create(
        &mut fbb,
        &fb::SubGraphArgs {
            tensors: Some(sg_tensors),
            inputs: Some(sg_inputs),
            outputs: Some(sg_outputs),
            operators: Some(sg_operators),
            name: Some(sg_name),
        },
    );
    let operator_codes = fbb.create_vector(&operator_codes);
    let subgraphs = fbb.create_vector(&[subgraph]);
    let description = fbb.create_string(&graph.description);
    let buffers: WIPOffset<Vector<'_, ForwardsUOffset<fb::Buffer<'_>>>> =
        fbb.create_vector(&buffers);
    let metadata = fbb.create_vector(&metadata);
    let signature_defs = fbb.create_vector(&[signature]);
    let model = fb::Model::create(
        &mut fbb,
        &fb::ModelArgs {
            version: 3,
            operator_codes: Some(operator_codes),
            subgraphs: Some(subgraphs),
            description: Some(description),
            buffers: Some(buffers),
            metadata: Some(metadata),
            signature_defs: Some(signature_defs),
            ..Default::default()
        },
    );
    fb::finish_model_buffer(&mut fbb, model);
    Ok(fbb.finished_data().to_vec())
}
