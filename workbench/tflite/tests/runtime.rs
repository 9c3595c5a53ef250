//! The interpreter: hand-computed small graphs, outputs recorded from the
//! real TFLite interpreter (reference kernels), and prepare-time errors.

mod common;

use std::path::Path;

use common::{act, every_op_graph, float, i32_bytes, i8_bytes, konst, per_channel, window};
use workbench_tflite::{
    read_file, Activation, DType, Graph, Interpreter, Kernels, Op, Options, Padding, Quant,
};

const KERNELS: [Kernels; 2] = [Kernels::Reference, Kernels::Optimized];

fn run_i8(g: &Graph, kernels: Kernels, input: &[i8]) -> Interpreter {
    let mut it = Interpreter::with_kernels(g.clone(), kernels).unwrap();
    it.set_input_i8(0, input).unwrap();
    it.invoke().unwrap();
    it
}

/// input [1, 2] -> FULLY_CONNECTED (3 units, bias, RELU) -> [1, 3]; every scale
/// chosen so the requantization multiplier is exactly 1.
fn fc_graph() -> Graph {
    let mut g = Graph::default();
    let x = g.add_tensor(act("x", &[1, 2], 0.5, 0));
    let w = g.add_tensor(konst(
        "w",
        &[3, 2],
        DType::I8,
        Some(Quant::per_tensor(1.0, 0)),
        i8_bytes(&[1, 2, 3, -1, -2, -2]),
    ));
    let b = g.add_tensor(konst(
        "b",
        &[3],
        DType::I32,
        Some(Quant::per_tensor(0.5, 0)),
        i32_bytes(&[0, 4, 1]),
    ));
    let y = g.add_tensor(act("y", &[1, 3], 0.5, 0));
    g.add_node(
        Op::FullyConnected {
            activation: Activation::Relu,
            keep_num_dims: false,
            asymmetric_quantize_inputs: false,
        },
        vec![Some(x), Some(w), Some(b)],
        vec![y],
    );
    g.inputs = vec![x];
    g.outputs = vec![y];
    g
}

#[test]
fn fully_connected_hand_computed() {
    for k in KERNELS {
        let it = run_i8(&fc_graph(), k, &[2, 4]);
        assert_eq!(
            it.output_i8(0).unwrap(),
            [
                10, // 2*1 + 4*2 + 0
                6,  // 2*3 + 4*(-1) + 4
                0,  // 2*(-2) + 4*(-2) + 1 = -11, RELU clamps at zero point 0
            ]
        );
    }
}

#[test]
fn conv_same_padding_hand_computed() {
    // 3x3 ones convolved with a 3x3 ones filter, SAME padding: counts of in-bounds taps.
    let mut g = Graph::default();
    let x = g.add_tensor(act("x", &[1, 3, 3, 1], 1.0, 0));
    let w = g.add_tensor(konst(
        "w",
        &[1, 3, 3, 1],
        DType::I8,
        Some(per_channel(vec![1.0], 0)),
        vec![1; 9],
    ));
    let y = g.add_tensor(act("y", &[1, 3, 3, 1], 1.0, 0));
    g.add_node(
        Op::Conv2d {
            window: window(Padding::Same, 1),
            dilation_w: 1,
            dilation_h: 1,
            activation: Activation::None,
        },
        vec![Some(x), Some(w)],
        vec![y],
    );
    g.inputs = vec![x];
    g.outputs = vec![y];
    for k in KERNELS {
        let it = run_i8(&g, k, &[1; 9]);
        assert_eq!(
            it.output_i8(0).unwrap(),
            [
                4, 6, 4, // top row: corners see 2x2, edges 2x3
                6, 9, 6, // middle row: the center sees all 9
                4, 6, 4, // bottom row
            ]
        );
    }
}

#[test]
fn depthwise_multiplier_2_hand_computed() {
    let mut g = Graph::default();
    let x = g.add_tensor(act("x", &[1, 1, 1, 2], 1.0, 0));
    let w = g.add_tensor(konst(
        "w",
        &[1, 1, 1, 4],
        DType::I8,
        Some(per_channel(vec![1.0; 4], 3)),
        i8_bytes(&[1, 2, 3, 4]),
    ));
    let b = g.add_tensor(konst(
        "b",
        &[4],
        DType::I32,
        None,
        i32_bytes(&[0, 0, 0, 10]),
    ));
    let y = g.add_tensor(act("y", &[1, 1, 1, 4], 1.0, 0));
    g.add_node(
        Op::DepthwiseConv2d {
            window: window(Padding::Valid, 1),
            dilation_w: 1,
            dilation_h: 1,
            depth_multiplier: 2,
            activation: Activation::None,
        },
        vec![Some(x), Some(w), Some(b)],
        vec![y],
    );
    g.inputs = vec![x];
    g.outputs = vec![y];
    for k in KERNELS {
        let it = run_i8(&g, k, &[3, -2]);
        assert_eq!(
            it.output_i8(0).unwrap(),
            [
                3,  // input channel 0 (3) * 1
                6,  // input channel 0 (3) * 2
                -6, // input channel 1 (-2) * 3
                2,  // input channel 1 (-2) * 4 + bias 10
            ]
        );
    }
}

#[test]
fn pools_hand_computed() {
    let window = window(Padding::Valid, 1);
    for max in [true, false] {
        let mut g = Graph::default();
        let x = g.add_tensor(act("x", &[1, 2, 2, 2], 0.1, 0));
        let y = g.add_tensor(act("y", &[1, 1, 1, 2], 0.1, 0));
        let op = if max {
            Op::MaxPool2d {
                window,
                filter_w: 2,
                filter_h: 2,
                activation: Activation::None,
            }
        } else {
            Op::AveragePool2d {
                window,
                filter_w: 2,
                filter_h: 2,
                activation: Activation::None,
            }
        };
        g.add_node(op, vec![Some(x)], vec![y]);
        g.inputs = vec![x];
        g.outputs = vec![y];
        for k in KERNELS {
            // Channel 0 holds 1, 2, 3, 4; channel 1 holds -1, -2, -3, -4.
            let it = run_i8(&g, k, &[1, -1, 2, -2, 3, -3, 4, -4]);
            let want: [i8; 2] = if max {
                [4, -1] // the largest of each channel
            } else {
                [3, -3] // 10/4 = 2.5 and -2.5, rounded half away from zero
            };
            assert_eq!(it.output_i8(0).unwrap(), want, "max={max}");
        }
    }
}

#[test]
fn add_hand_computed() {
    let mut g = Graph::default();
    let a = g.add_tensor(act("a", &[1, 3], 1.0, 10));
    let b = g.add_tensor(konst(
        "b",
        &[1, 3],
        DType::I8,
        Some(Quant::per_tensor(1.0, 0)),
        i8_bytes(&[4, 100, -50]),
    ));
    let y = g.add_tensor(act("y", &[1, 3], 1.0, 0));
    g.add_node(
        Op::Add {
            activation: Activation::None,
        },
        vec![Some(a), Some(b)],
        vec![y],
    );
    g.inputs = vec![a];
    g.outputs = vec![y];
    for k in KERNELS {
        let it = run_i8(&g, k, &[13, 110, -100]);
        assert_eq!(
            it.output_i8(0).unwrap(),
            [
                7,    // (13 - 10) + 4
                127,  // (110 - 10) + 100 = 200 saturates
                -128, // (-100 - 10) - 50 = -160 saturates
            ]
        );
    }
}

#[test]
fn quantize_dequantize_hand_computed() {
    let mut g = Graph::default();
    let x = g.add_tensor(float("x", &[5]));
    let q = g.add_tensor(act("q", &[5], 0.5, -1));
    let y = g.add_tensor(float("y", &[5]));
    g.add_node(Op::Quantize, vec![Some(x)], vec![q]);
    g.add_node(Op::Dequantize, vec![Some(q)], vec![y]);
    g.inputs = vec![x];
    g.outputs = vec![y];
    let mut it = Interpreter::new(g).unwrap();
    it.set_input_f32(0, &[1.3, -0.2, 100.0, -100.0, 0.25])
        .unwrap();
    it.invoke().unwrap();
    assert_eq!(
        it.tensor_i8(q).unwrap(),
        [
            2,    // round(2.6) - 1
            -1,   // round(-0.4) - 1
            127,  // 200 - 1 saturates
            -128, // -200 - 1 saturates
            0,    // round(0.5) = 1 (half away from zero), - 1
        ]
    );
    assert_eq!(
        it.output_f32(0).unwrap(),
        [
            1.5,   // (2 + 1) * 0.5
            0.0,   // (-1 + 1) * 0.5
            64.0,  // (127 + 1) * 0.5
            -63.5, // (-128 + 1) * 0.5
            0.5,   // (0 + 1) * 0.5
        ]
    );
}

/// Parses `<name>_expected.txt`: `index: values`, recorded from TFLite's reference kernels.
fn expected_tensors(name: &str) -> Vec<(usize, Vec<i8>)> {
    let path = format!(
        "{}/tests/data/{name}_expected.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (i, v) = l.split_once(':').unwrap();
            let v = v.split_whitespace().map(|x| x.parse().unwrap()).collect();
            (i.parse().unwrap(), v)
        })
        .collect()
}

/// Runs a model made by TF's converter on the recorded input and compares
/// every int8 tensor with TFLite's.
fn check_tf_model(name: &str, n_expected: usize) {
    let path = format!("{}/tests/data/{name}.tflite", env!("CARGO_MANIFEST_DIR"));
    let g = read_file(Path::new(&path)).unwrap();
    let n = g.tensors[g.inputs[0]].num_elements();
    let input: Vec<i8> = (0..n)
        .map(|i| ((i * 37 + 11) % 256) as i32 - 128)
        .map(|v| v as i8)
        .collect();
    let expected = expected_tensors(name);
    assert_eq!(expected.len(), n_expected);
    for k in KERNELS {
        let it = run_i8(&g, k, &input);
        for (t, want) in &expected {
            assert_eq!(
                it.tensor_i8(*t).unwrap(),
                &want[..],
                "{name}: tensor {t} ({}) with {k:?}",
                g.tensors[*t].name
            );
        }
    }
}

#[test]
fn tf_converter_models_match_tflite_reference_kernels() {
    check_tf_model("tiny_int8", 12);
    check_tf_model("dw_fc_int8", 7);
}

#[test]
fn every_op_graph_matches_tflite_reference_kernels() {
    // Expected values: this graph written by `write` and run by ai-edge-litert
    // 2.3.0 (OpResolverType.BUILTIN_REF) on the same input.
    let input: Vec<f32> = (0..72)
        .map(|i| ((i as f64 * 0.7).sin() * 0.3) as f32)
        .collect();
    let expected: [(usize, &[i8]); 8] = [
        (
            4, // conv.out
            &[
                -128, -128, -128, -123, -112, -112, -128, -128, -128, -128, -128, -128, -127, -122,
                -126, -123, -122, -112, -128, -101, -128, -125, -128, -120, -128, -111, -128,
            ],
        ),
        (6, &[10, 6, 19, 20, 12, 12]), // dw.out
        (
            7, // max.out
            &[
                -123, -112, -112, -123, -112, -112, -125, -101, -120, -123, -111, -112,
            ],
        ),
        (
            8, // avg.out
            &[
                -127, -123, -124, -125, -121, -120, -127, -120, -126, -126, -121, -122,
            ],
        ),
        (
            9, // add.out
            &[-97, -89, -90, -96, -88, -88, -98, -82, -95, -96, -88, -89],
        ),
        (14, &[127, -128, -128, -128]), // softmax
        (16, &[10, 2, 28, 30, 14, 14]), // requant
        (
            1, // q
            &[
                -3, 1, 3, 2, -1, -5, -8, -9, -7, -3, 1, 3, 2, -1, -5, -8, -9, -7, -3, 1, 3, 2, -1,
                -5, -8, -9, -7, -3, 1, 3, 2, -1, -5, -8, -9, -7, -3, 1, 3, 2, -1, -5, -8, -9, -6,
                -2, 1, 3, 2, -1, -6, -8, -9, -6, -2, 1, 3, 2, -2, -6, -8, -9, -6, -2, 1, 3, 2, -2,
                -6, -9, -9, -6,
            ],
        ),
    ];
    for k in KERNELS {
        let mut it = Interpreter::with_kernels(every_op_graph(), k).unwrap();
        it.set_input_f32(0, &input).unwrap();
        it.invoke().unwrap();
        for (t, want) in expected {
            assert_eq!(it.tensor_i8(t).unwrap(), want, "tensor {t} with {k:?}");
        }
        assert_eq!(it.output_f32(0).unwrap(), [0.99609375, 0.0, 0.0, 0.0]);
        assert_eq!(it.output_i8(1).unwrap(), [10, 2, 28, 30, 14, 14]);
    }
}

#[test]
fn prepare_errors_name_op_and_tensor() {
    // FC weights expect 2 inputs but the input has 3 values.
    let mut g = fc_graph();
    g.tensors[0].shape = vec![1, 3];
    let e = Interpreter::new(g).unwrap_err().to_string();
    assert_eq!(
        e,
        "op 0 (FULLY_CONNECTED): weights tensor 1 has 2 inputs, input tensor 0 has 3"
    );
    // Float weights.
    let mut g = fc_graph();
    g.tensors[1].dtype = DType::F32;
    g.tensors[1].data = Some(vec![0; 24]);
    let e = Interpreter::new(g).unwrap_err().to_string();
    assert_eq!(
        e,
        "op 0 (FULLY_CONNECTED): weights tensor 1: expected int8, got float32"
    );
    // Wrong output shape.
    let mut g = fc_graph();
    g.tensors[3].shape = vec![1, 4];
    let e = Interpreter::new(g).unwrap_err().to_string();
    assert_eq!(
        e,
        "op 0 (FULLY_CONNECTED): output tensor 3 has 4 values, expected 1 x 3"
    );
    // Missing quantization on an activation.
    let mut g = fc_graph();
    g.tensors[0].quant = None;
    let e = Interpreter::new(g).unwrap_err().to_string();
    assert_eq!(
        e,
        "op 0 (FULLY_CONNECTED): input tensor 0 has no quantization"
    );
    // A node that references a tensor that does not exist.
    let mut g = fc_graph();
    g.nodes[0].inputs[1] = Some(7);
    let e = Interpreter::new(g).unwrap_err().to_string();
    assert_eq!(
        e,
        "op 0 (FULLY_CONNECTED): input 1: tensor 7 does not exist (graph has 4 tensors)"
    );
}

#[test]
fn io_errors_say_what_is_wrong() {
    let mut it = Interpreter::new(fc_graph()).unwrap();
    let e = it.set_input_i8(0, &[1, 2, 3]).unwrap_err().to_string();
    assert_eq!(
        e,
        "input 0 (tensor 0, x): expected 2 values for shape [1, 2], got 3"
    );
    let e = it.set_input_f32(0, &[1.0, 2.0]).unwrap_err().to_string();
    assert_eq!(e, "input 0 (tensor 0, x): expected int8, got float32");
    let e = it.set_input_i8(1, &[1, 2]).unwrap_err().to_string();
    assert_eq!(e, "input 1 does not exist (graph has 1 inputs)");
    let e = it.output_f32(0).unwrap_err().to_string();
    assert_eq!(e, "output 0 (tensor 3) is int8, not float32");
    assert!(it.tensor_i8(1).is_some(), "constant weights are readable");
    assert!(it.tensor_i8(2).is_none(), "bias is int32");
    assert_eq!(it.graph().nodes.len(), 1);
}

#[test]
fn memory_limit_names_the_largest_tensor() {
    // fc_graph's activations: x [1, 2] and y [1, 3], 5 bytes of int8.
    let options = |max_activation_bytes| Options {
        max_activation_bytes,
        ..Options::default()
    };
    assert!(Interpreter::with_options(fc_graph(), options(5)).is_ok());
    let e = Interpreter::with_options(fc_graph(), options(4))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "the activation tensors need 5 bytes, more than the limit of 4 \
         (Options::max_activation_bytes); the largest is tensor 3 (y), shape [1, 3]"
    );
}

/// Bad SPLIT, UNPACK, PACK and CONCATENATION nodes: errors name the op and tensor.
#[test]
fn multi_output_and_multi_operand_errors_name_op_and_tensor() {
    let keras3 = |name: &str| {
        read_file(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("../../tests/refs/keras3/{name}.tflite")),
        )
        .unwrap()
    };
    let err = |g: Graph| Interpreter::new(g).unwrap_err().to_string();
    // SPLIT: 3 outputs, 2 splits; a dimension 6 that does not split in 4.
    let mut g = keras3("split_int8");
    g.nodes[0].op = Op::Split { num_splits: 2 };
    assert_eq!(
        err(g),
        "op 0 (SPLIT): num_splits is 2, the node has 3 outputs"
    );
    let mut g = keras3("split_int8");
    g.tensors[0].shape = vec![1, 4, 5];
    assert_eq!(
        err(g),
        "op 0 (SPLIT): input tensor 0 shape [1, 4, 5]: dimension 2 does not split into 3 equal parts"
    );
    // SPLIT writing one tensor twice.
    let mut g = keras3("split_f32");
    g.nodes[0].outputs[2] = g.nodes[0].outputs[0];
    assert_eq!(err(g), "op 0 (SPLIT): output tensor 2 is written twice");
    // UNPACK: an output on another quantization.
    let mut g = keras3("unpack_pack_int8");
    g.tensors[3].quant.as_mut().unwrap().zero_point[0] = 5;
    let e = err(g);
    assert!(
        e.starts_with("op 0 (UNPACK): output tensor 3 quantization (0.023189528, 5) differs from input tensor 0"),
        "{e}"
    );
    // PACK: inputs of different shapes.
    let mut g = keras3("unpack_pack_f32");
    g.nodes[4].inputs[1] = Some(0);
    assert_eq!(
        err(g),
        "op 4 (PACK): input tensors 5 [1, 4] and 0 [1, 3, 4] differ in shape"
    );
    // CONCATENATION: a third input that differs off the axis.
    let mut g = keras3("concat_model_f32");
    g.nodes[2].inputs[2] = Some(3);
    assert_eq!(
        err(g),
        "op 2 (CONCATENATION): input tensors 5 [1, 6, 6, 4] and 3 [4, 1, 1, 2] differ in dimension 0"
    );
}

/// float32 x [rows, 2] -> hybrid FULLY_CONNECTED (int8 weights [units, 2], per-channel scales).
fn hybrid_fc_graph(units: usize, asymmetric: bool) -> Graph {
    let mut g = Graph::default();
    let x = g.add_tensor(float("x", &[1, 2]));
    let w = g.add_tensor(konst(
        "w",
        &[units, 2],
        DType::I8,
        Some(per_channel(vec![0.5; units.max(1)], 0)),
        i8_bytes(&[1, 2, -1, 1][..2 * units.min(2)]),
    ));
    let y = g.add_tensor(float("y", &[1, units]));
    g.add_node(
        Op::FullyConnected {
            activation: Activation::None,
            keep_num_dims: false,
            asymmetric_quantize_inputs: asymmetric,
        },
        vec![Some(x), Some(w), None],
        vec![y],
    );
    g.inputs = vec![x];
    g.outputs = vec![y];
    g
}

#[test]
fn hybrid_fully_connected_hand_computed() {
    // Symmetric: x = [127, -127] quantizes to itself with scale 1;
    // out = acc * (1 * 0.5): [127 - 254, -127 - 127] * 0.5.
    for asymmetric in [false, true] {
        for k in KERNELS {
            let mut it = Interpreter::with_kernels(hybrid_fc_graph(2, asymmetric), k).unwrap();
            it.set_input_f32(0, &[127.0, -127.0]).unwrap();
            it.invoke().unwrap();
            let got = it.output_f32(0).unwrap();
            let want = [-63.5f32, -127.0];
            for (g, w) in got.iter().zip(want) {
                assert!(
                    (g - w).abs() <= 0.02 * w.abs(),
                    "{asymmetric} {k:?}: {got:?}"
                );
            }
        }
    }
}

#[test]
fn hybrid_fully_connected_without_units_is_rejected() {
    let e = Interpreter::new(hybrid_fc_graph(0, true))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("FULLY_CONNECTED") && e.contains("0 output units"),
        "{e}"
    );
}
