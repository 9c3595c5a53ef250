//! Reading and writing `.tflite`: round trips, a model made by TF's
//! converter, corrupt bytes and unsupported operators.

use std::path::Path;

use flatbuffers::{FlatBufferBuilder, UnionWIPOffset, WIPOffset};
use workbench_tflite::schema as fb;
mod common;

use common::every_op_graph;
use workbench_tflite::{read, read_file, to_c_array, write, DType, Interpreter};

const TINY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tiny_int8.tflite");

#[test]
fn write_then_read_gives_the_same_graph() {
    let g = every_op_graph();
    let bytes = write(&g).unwrap();
    assert_eq!(&bytes[4..8], b"TFL3");
    let back = read(&bytes).unwrap();
    assert_eq!(back, g);
}

#[test]
fn written_model_has_tflite_conventions() {
    let bytes = write(&every_op_graph()).unwrap();
    let m = fb::root_as_model(&bytes).unwrap();
    assert_eq!(m.version(), 3);
    assert_eq!(m.description(), Some("every op"));
    let buffers = m.buffers().unwrap();
    // Buffer 0 is the empty sentinel.
    assert!(buffers.get(0).data().is_none_or(|d| d.is_empty()));
    // Constant data starts 16-byte aligned in the file.
    for b in buffers.iter().skip(1) {
        let d = b.data().unwrap();
        let offset = d.bytes().as_ptr() as usize - bytes.as_ptr() as usize;
        assert_eq!(offset % 16, 0, "buffer data at offset {offset}");
    }
    // Operator codes: (builtin code, version) as TF's int8 converter writes them.
    let codes: Vec<(i8, i32, i32)> = m
        .operator_codes()
        .unwrap()
        .iter()
        .map(|c| (c.deprecated_builtin_code(), c.builtin_code().0, c.version()))
        .collect();
    assert_eq!(
        codes,
        vec![
            (114, 114, 1), // QUANTIZE from float
            (3, 3, 3),     // CONV_2D
            (4, 4, 3),     // DEPTHWISE_CONV_2D
            (17, 17, 2),   // MAX_POOL_2D
            (1, 1, 2),     // AVERAGE_POOL_2D
            (0, 0, 2),     // ADD
            (22, 22, 1),   // RESHAPE
            (9, 9, 5),     // FULLY_CONNECTED with keep_num_dims
            (25, 25, 2),   // SOFTMAX
            (6, 6, 2),     // DEQUANTIZE
            (114, 114, 2), // QUANTIZE int8 -> int8
        ]
    );
    let md = m.metadata().unwrap().get(0);
    assert_eq!(md.name(), Some("min_runtime_version"));
    let v = buffers.get(md.buffer() as usize).data().unwrap().bytes();
    assert_eq!(v, b"2.0.0\0\0\0\0\0\0\0\0\0\0\0");
    // A serving_default signature names inputs and outputs.
    let sig = m.signature_defs().unwrap().get(0);
    assert_eq!(sig.signature_key(), Some("serving_default"));
    let names: Vec<(&str, u32)> = sig
        .outputs()
        .unwrap()
        .iter()
        .map(|t| (t.name().unwrap(), t.tensor_index()))
        .collect();
    assert_eq!(names, [("output", 15), ("requant", 16)]);
    // Per-channel quantization keeps its dimension.
    let dw = m.subgraphs().unwrap().get(0).tensors().unwrap().get(5);
    assert_eq!(dw.name(), Some("dw.weight"));
    assert_eq!(dw.quantization().unwrap().quantized_dimension(), 3);
}

#[test]
fn reads_a_model_made_by_tf_converter() {
    let g = read_file(Path::new(TINY)).unwrap();
    assert_eq!(g.description, "MLIR Converted.");
    let names: Vec<&str> = g.nodes.iter().map(|n| n.op.name()).collect();
    assert_eq!(
        names,
        [
            "CONV_2D",
            "DEPTHWISE_CONV_2D",
            "ADD",
            "MAX_POOL_2D",
            "AVERAGE_POOL_2D",
            "RESHAPE",
            "FULLY_CONNECTED",
            "SOFTMAX"
        ]
    );
    assert_eq!(g.inputs, [0]);
    assert_eq!(g.outputs, [14]);
    let input = &g.tensors[0];
    assert_eq!(
        (input.dtype, &input.shape[..]),
        (DType::I8, &[1, 8, 8, 2][..])
    );
    // FC weights are per-channel along axis 0; FC has no bias.
    let fc = &g.nodes[6];
    assert_eq!(fc.inputs[2], None);
    let w = &g.tensors[fc.inputs[1].unwrap()];
    assert_eq!(w.shape, [5, 16]);
    assert_eq!(w.quant.as_ref().unwrap().scale.len(), 5);
    assert_eq!(w.quant.as_ref().unwrap().axis, 0);
    // Depthwise filter is per-channel along axis 3.
    let dw = &g.tensors[g.nodes[1].inputs[1].unwrap()];
    assert_eq!(dw.quant.as_ref().unwrap().axis, 3);
    // The rewritten model reads back identically.
    let again = read(&write(&g).unwrap()).unwrap();
    assert_eq!(again, g);
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let bytes = write(&every_op_graph()).unwrap();
    for len in 0..bytes.len() {
        assert!(read(&bytes[..len]).is_err(), "truncated to {len} bytes");
    }
    let tiny = std::fs::read(TINY).unwrap();
    for len in 0..tiny.len() {
        assert!(read(&tiny[..len]).is_err(), "tiny truncated to {len} bytes");
    }
}

#[test]
fn garbage_and_empty_bytes_are_errors() {
    let e = read(&[]).unwrap_err().to_string();
    assert!(e.contains("0 bytes"), "{e}");
    let e = read(b"hello world, not a model").unwrap_err().to_string();
    assert!(e.contains("TFL3"), "{e}");
    // Pseudo-random bytes with the right identifier.
    let mut x: u32 = 12345;
    for n in [8usize, 16, 64, 1000] {
        let mut v: Vec<u8> = (0..n)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        v[4..8].copy_from_slice(b"TFL3");
        assert!(read(&v).is_err());
    }
}

#[test]
fn corrupted_bytes_never_panic() {
    let ours = write(&every_op_graph()).unwrap();
    let tf = std::fs::read(TINY).unwrap();
    let mut survived = 0;
    for bytes in [ours, tf] {
        for i in 0..bytes.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut v = bytes.clone();
                v[i] ^= flip;
                // Whatever still reads must also prepare and run without panicking.
                let Ok(g) = read(&v) else { continue };
                let Ok(mut it) = Interpreter::new(g) else {
                    continue;
                };
                let n = it
                    .graph()
                    .inputs
                    .first()
                    .map_or(0, |&t| it.graph().tensors[t].num_elements());
                if it.set_input_f32(0, &vec![0.5; n]).is_ok()
                    || it.set_input_i8(0, &vec![7; n]).is_ok()
                {
                    it.invoke().unwrap();
                    survived += 1;
                }
            }
        }
    }
    // Flips in names, constant data and scales leave runnable models.
    assert!(survived > 1000, "{survived}");
}

#[test]
fn read_file_errors_name_the_file() {
    let e = read_file(Path::new("/nonexistent/model.tflite"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/model.tflite"), "{e}");
    let dir = std::env::temp_dir().join(format!("wb-tflite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("bad.tflite");
    std::fs::write(&p, b"garbage!garbage!").unwrap();
    let e = read_file(&p).unwrap_err().to_string();
    assert!(e.contains("bad.tflite") && e.contains("TFL3"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A one-operator model built directly with the schema: input [1, 4] int8,
/// operator code as given.
fn one_op_model(deprecated: i8, builtin: i32, subgraphs: usize, dims: &[i32]) -> Vec<u8> {
    let mut fbb = FlatBufferBuilder::new();
    let buffer = fb::Buffer::create(&mut fbb, &fb::BufferArgs::default());
    let mut tensors = Vec::new();
    for name in ["in", "out"] {
        let shape = fbb.create_vector(dims);
        let name = fbb.create_string(name);
        let scale = fbb.create_vector(&[0.5f32]);
        let zp = fbb.create_vector(&[0i64]);
        let q = fb::QuantizationParameters::create(
            &mut fbb,
            &fb::QuantizationParametersArgs {
                scale: Some(scale),
                zero_point: Some(zp),
                ..Default::default()
            },
        );
        tensors.push(fb::Tensor::create(
            &mut fbb,
            &fb::TensorArgs {
                shape: Some(shape),
                type_: fb::TensorType::INT8,
                name: Some(name),
                quantization: Some(q),
                ..Default::default()
            },
        ));
    }
    let opts = fb::AddOptions::create(&mut fbb, &fb::AddOptionsArgs::default());
    OneOp {
        tensors,
        buffers: vec![buffer],
        deprecated_code: deprecated,
        code: fb::BuiltinOperator(builtin),
        inputs: &[0, 0],
        outputs: &[1],
        options: Some((fb::BuiltinOptions::AddOptions, opts.as_union_value())),
        subgraphs,
    }
    .finish(fbb)
}

/// A model of one operator in one subgraph (repeated `subgraphs` times) whose
/// graph input is tensor 0 and graph outputs are the operator's.
struct OneOp<'a, 'b> {
    tensors: Vec<WIPOffset<fb::Tensor<'a>>>,
    buffers: Vec<WIPOffset<fb::Buffer<'a>>>,
    deprecated_code: i8,
    code: fb::BuiltinOperator,
    inputs: &'b [i32],
    outputs: &'b [i32],
    options: Option<(fb::BuiltinOptions, WIPOffset<UnionWIPOffset>)>,
    subgraphs: usize,
}

impl<'a> OneOp<'a, '_> {
    /// Adds the operator, its code, the subgraphs and the model; returns the bytes.
    fn finish(self, mut fbb: FlatBufferBuilder<'a>) -> Vec<u8> {
        let inputs = fbb.create_vector(self.inputs);
        let outputs = fbb.create_vector(self.outputs);
        let (builtin_options_type, builtin_options) = match self.options {
            Some((kind, table)) => (kind, Some(table)),
            None => (fb::BuiltinOptions::NONE, None),
        };
        let op = fb::Operator::create(
            &mut fbb,
            &fb::OperatorArgs {
                inputs: Some(inputs),
                outputs: Some(outputs),
                builtin_options_type,
                builtin_options,
                ..Default::default()
            },
        );
        let code = fb::OperatorCode::create(
            &mut fbb,
            &fb::OperatorCodeArgs {
                deprecated_builtin_code: self.deprecated_code,
                builtin_code: self.code,
                version: 1,
                ..Default::default()
            },
        );
        let tensors = fbb.create_vector(&self.tensors);
        let ops = fbb.create_vector(&[op]);
        let io_in = fbb.create_vector(&[0]);
        let io_out = fbb.create_vector(self.outputs);
        let sg = fb::SubGraph::create(
            &mut fbb,
            &fb::SubGraphArgs {
                tensors: Some(tensors),
                inputs: Some(io_in),
                outputs: Some(io_out),
                operators: Some(ops),
                name: None,
            },
        );
        let sgs = fbb.create_vector(&vec![sg; self.subgraphs]);
        let codes = fbb.create_vector(&[code]);
        let buffers = fbb.create_vector(&self.buffers);
        let model = fb::Model::create(
            &mut fbb,
            &fb::ModelArgs {
                version: 3,
                operator_codes: Some(codes),
                subgraphs: Some(sgs),
                buffers: Some(buffers),
                ..Default::default()
            },
        );
        fb::finish_model_buffer(&mut fbb, model);
        fbb.finished_data().to_vec()
    }
}

#[test]
fn unsupported_op_error_names_op_code_and_shapes() {
    // LSH_PROJECTION = 15.
    let e = read(&one_op_model(15, 15, 1, &[1, 4]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "op 0 (LSH_PROJECTION): unsupported operator (builtin code 15), input shapes [[1, 4], [1, 4]]"
    );
    // An extended code beyond 127 lives only in builtin_code; deprecated holds 127.
    let e = read(&one_op_model(127, 150, 1, &[1, 4]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("op 0 (GELU)") && e.contains("code 150"), "{e}");
}

#[test]
fn builtin_code_is_the_max_of_both_fields() {
    // Old models set only deprecated_builtin_code (builtin_code reads as ADD = 0).
    let old = read(&one_op_model(0, 0, 1, &[1, 4])).unwrap();
    assert_eq!(old.nodes[0].op.name(), "ADD");
    // deprecated_builtin_code = 4 with builtin_code 0: DEPTHWISE_CONV_2D, which
    // then needs its own options.
    let e = read(&one_op_model(4, 0, 1, &[1, 4]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "op 0 (DEPTHWISE_CONV_2D): missing DepthwiseConv2DOptions"
    );
}

#[test]
fn multiple_subgraphs_and_dynamic_shapes_are_rejected() {
    let e = read(&one_op_model(0, 0, 2, &[1, 4]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "model has 2 subgraphs, only single-subgraph models are supported"
    );
    let e = read(&one_op_model(0, 0, 1, &[-1, 4]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("tensor 0 (in): dynamic shape [-1, 4]"), "{e}");
}

#[test]
fn write_rejects_a_node_with_a_missing_tensor() {
    let mut g = every_op_graph();
    g.nodes[1].inputs[1] = Some(99);
    let e = write(&g).unwrap_err().to_string();
    assert_eq!(
        e,
        "op 1 (CONV_2D): input 1: tensor 99 does not exist (graph has 17 tensors)"
    );
    let mut g = every_op_graph();
    g.tensors[2].data.as_mut().unwrap().pop();
    let e = write(&g).unwrap_err().to_string();
    assert!(
        e.starts_with("tensor 2 (conv.weight): constant data has 53 bytes"),
        "{e}"
    );
}

#[test]
fn c_array_is_like_xxd() {
    let bytes: Vec<u8> = (0..14).collect();
    let s = to_c_array(&bytes, "model");
    assert_eq!(
        s,
        "alignas(16) unsigned char model[] = {\n\
         \x20 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,\n\
         \x20 0x0c, 0x0d\n\
         };\n\
         unsigned int model_len = 14;\n"
    );
    assert_eq!(
        to_c_array(&[], "e"),
        "alignas(16) unsigned char e[] = {\n};\nunsigned int e_len = 0;\n"
    );
}

#[test]
fn reshape_without_shape_input_writes_new_shape() {
    let mut g = workbench_tflite::Graph::default();
    let x = g.add_tensor(common::act("x", &[1, 2, 2, 1], 0.5, 0));
    let y = g.add_tensor(common::act("y", &[1, 4], 0.5, 0));
    g.add_node(workbench_tflite::Op::Reshape, vec![Some(x)], vec![y]);
    g.inputs = vec![x];
    g.outputs = vec![y];
    let bytes = write(&g).unwrap();
    let m = fb::root_as_model(&bytes).unwrap();
    let op = m.subgraphs().unwrap().get(0).operators().unwrap().get(0);
    let new_shape: Vec<i32> = op
        .builtin_options_as_reshape_options()
        .unwrap()
        .new_shape()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(new_shape, [1, 4]);
    assert_eq!(read(&bytes).unwrap(), g);
}

/// RESHAPE [1, 4] -> [4, 1] whose shape input (tensor 1) has the given type,
/// data and, optionally, a large-model buffer offset.
fn reshape_model(shape_type: fb::TensorType, shape_data: &[u8], offset: u64) -> Vec<u8> {
    let mut fbb = FlatBufferBuilder::new();
    let empty = fb::Buffer::create(&mut fbb, &fb::BufferArgs::default());
    let data = fbb.create_vector(shape_data);
    let shape_buffer = fb::Buffer::create(
        &mut fbb,
        &fb::BufferArgs {
            data: Some(data),
            offset,
            size: if offset > 0 {
                shape_data.len() as u64
            } else {
                0
            },
        },
    );
    let specs: [(&str, &[i32], fb::TensorType, u32); 3] = [
        ("in", &[1, 4], fb::TensorType::INT8, 0),
        ("shape", &[2], shape_type, 1),
        ("out", &[4, 1], fb::TensorType::INT8, 0),
    ];
    let mut tensors = Vec::new();
    for (name, dims, type_, buffer) in specs {
        let shape = fbb.create_vector(dims);
        let name = fbb.create_string(name);
        tensors.push(fb::Tensor::create(
            &mut fbb,
            &fb::TensorArgs {
                shape: Some(shape),
                type_,
                buffer,
                name: Some(name),
                ..Default::default()
            },
        ));
    }
    OneOp {
        tensors,
        buffers: vec![empty, shape_buffer],
        deprecated_code: 22,
        code: fb::BuiltinOperator::RESHAPE,
        inputs: &[0, 1],
        outputs: &[2],
        options: None,
        subgraphs: 1,
    }
    .finish(fbb)
}

#[test]
fn int64_shape_tensors_become_int32() {
    let data: Vec<u8> = [4i64, 1].iter().flat_map(|v| v.to_le_bytes()).collect();
    let g = read(&reshape_model(fb::TensorType::INT64, &data, 0)).unwrap();
    let shape = &g.tensors[1];
    assert_eq!(shape.dtype, DType::I32);
    assert_eq!(shape.data.as_deref(), Some(&[4, 0, 0, 0, 1, 0, 0, 0][..]));
    // A value beyond int32 is an error naming the tensor.
    let data: Vec<u8> = [1i64 << 40, 1]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let e = read(&reshape_model(fb::TensorType::INT64, &data, 0))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "tensor 1 (shape): int64 value 1099511627776 does not fit in int32"
    );
}

#[test]
fn unsupported_types_and_large_model_buffers_are_errors() {
    let e = read(&reshape_model(fb::TensorType::UINT8, &[4, 1], 0))
        .unwrap_err()
        .to_string();
    assert_eq!(e, "tensor 1 (shape): unsupported type UINT8");
    let data: Vec<u8> = [4i32, 1].iter().flat_map(|v| v.to_le_bytes()).collect();
    let e = read(&reshape_model(fb::TensorType::INT32, &data, 4096))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("tensor 1 (shape): buffer 1 is stored outside the flatbuffer (offset 4096"),
        "{e}"
    );
    // A buffer whose size does not match the shape.
    let e = read(&reshape_model(fb::TensorType::INT32, &data[..6], 0))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "tensor 1 (shape): buffer 1 has 6 bytes, shape [2] of int32 needs 8"
    );
}

/// The Keras 3 fixtures with ABS, SPLIT, UNPACK, PACK and CONCATENATION of
/// several tensors read back identically once written, and the written
/// operator versions are the converter's.
#[test]
fn multi_operand_and_multi_output_ops_round_trip() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/refs/keras3");
    let codes = |bytes: &[u8]| -> Vec<(i32, i32)> {
        let m = fb::root_as_model(bytes).unwrap();
        let mut c: Vec<(i32, i32)> = m
            .operator_codes()
            .unwrap()
            .iter()
            .map(|c| (c.builtin_code().0, c.version()))
            .collect();
        c.sort();
        c
    };
    for name in [
        "concat_model_f32",
        "concat_model_int8",
        "rsqrt_f32",
        "rsqrt_int8",
        "split_f32",
        "split_int8",
        "unpack_pack_f32",
        "unpack_pack_int8",
    ] {
        let original = std::fs::read(dir.join(format!("{name}.tflite"))).unwrap();
        let g = read(&original).unwrap();
        let bytes = write(&g).unwrap();
        assert_eq!(read(&bytes).unwrap(), g, "{name}");
        assert_eq!(codes(&bytes), codes(&original), "{name}");
    }
}
