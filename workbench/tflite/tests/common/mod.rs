//! Graphs shared by the tflite tests.
#![allow(dead_code)]

use workbench_tflite::{Activation, DType, Graph, Op, Padding, Quant, Tensor, Window};

pub fn act(name: &str, shape: &[usize], scale: f32, zp: i64) -> Tensor {
    Tensor {
        name: name.into(),
        shape: shape.to_vec(),
        dtype: DType::I8,
        quant: Some(Quant::per_tensor(scale, zp)),
        data: None,
    }
}

pub fn konst(
    name: &str,
    shape: &[usize],
    dtype: DType,
    quant: Option<Quant>,
    data: Vec<u8>,
) -> Tensor {
    Tensor {
        name: name.into(),
        shape: shape.to_vec(),
        dtype,
        quant,
        data: Some(data),
    }
}

/// A float32 activation.
pub fn float(name: &str, shape: &[usize]) -> Tensor {
    Tensor {
        name: name.into(),
        shape: shape.to_vec(),
        dtype: DType::F32,
        quant: None,
        data: None,
    }
}

/// Symmetric per-channel quantization along `axis`.
pub fn per_channel(scale: Vec<f32>, axis: usize) -> Quant {
    Quant {
        zero_point: vec![0; scale.len()],
        scale,
        axis,
    }
}

/// The same stride along both axes.
pub fn window(padding: Padding, stride: usize) -> Window {
    Window {
        padding,
        stride_w: stride,
        stride_h: stride,
    }
}

pub fn i32_bytes(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn i8_bytes(v: &[i8]) -> Vec<u8> {
    v.iter().map(|&x| x as u8).collect()
}

/// A graph using every supported operator and option kind.
pub fn every_op_graph() -> Graph {
    let mut g = Graph {
        description: "every op".into(),
        ..Graph::default()
    };
    let input = g.add_tensor(float("input", &[1, 6, 6, 2]));
    let q = g.add_tensor(act("q", &[1, 6, 6, 2], 0.05, -3));
    g.add_node(Op::Quantize, vec![Some(input)], vec![q]);
    let w = g.add_tensor(konst(
        "conv.weight",
        &[3, 3, 3, 2],
        DType::I8,
        Some(per_channel(vec![0.01, 0.02, 0.03], 0)),
        (0..54).map(|i| (i * 7 % 255) as u8).collect(),
    ));
    let b = g.add_tensor(konst(
        "conv.bias",
        &[3],
        DType::I32,
        Some(per_channel(vec![0.0005, 0.001, 0.0015], 0)),
        i32_bytes(&[1, -2, 3]),
    ));
    let c = g.add_tensor(act("conv.out", &[1, 3, 3, 3], 0.1, -128));
    g.add_node(
        Op::Conv2d {
            window: window(Padding::Same, 2),
            dilation_w: 1,
            dilation_h: 1,
            activation: Activation::Relu,
        },
        vec![Some(q), Some(w), Some(b)],
        vec![c],
    );
    let dw = g.add_tensor(konst(
        "dw.weight",
        &[1, 3, 3, 6],
        DType::I8,
        Some(per_channel(vec![0.01; 6], 3)),
        (0..54).map(|i| (i * 3) as u8).collect(),
    ));
    let d = g.add_tensor(act("dw.out", &[1, 1, 1, 6], 0.2, 5));
    g.add_node(
        Op::DepthwiseConv2d {
            window: window(Padding::Valid, 1),
            dilation_w: 1,
            dilation_h: 1,
            depth_multiplier: 2,
            activation: Activation::Relu6,
        },
        vec![Some(c), Some(dw)],
        vec![d],
    );
    let m = g.add_tensor(act("max.out", &[1, 2, 2, 3], 0.1, -128));
    g.add_node(
        Op::MaxPool2d {
            window: window(Padding::Valid, 1),
            filter_w: 2,
            filter_h: 2,
            activation: Activation::None,
        },
        vec![Some(c)],
        vec![m],
    );
    let a = g.add_tensor(act("avg.out", &[1, 2, 2, 3], 0.1, -128));
    g.add_node(
        Op::AveragePool2d {
            window: window(Padding::Same, 2),
            filter_w: 3,
            filter_h: 3,
            activation: Activation::ReluN1To1,
        },
        vec![Some(c)],
        vec![a],
    );
    let s = g.add_tensor(act("add.out", &[1, 2, 2, 3], 0.2, -100));
    g.add_node(
        Op::Add {
            activation: Activation::None,
        },
        vec![Some(m), Some(a)],
        vec![s],
    );
    let shape = g.add_tensor(konst("shape", &[2], DType::I32, None, i32_bytes(&[1, 12])));
    let r = g.add_tensor(act("flat", &[1, 12], 0.2, -100));
    g.add_node(Op::Reshape, vec![Some(s), Some(shape)], vec![r]);
    let fw = g.add_tensor(konst(
        "fc.weight",
        &[4, 12],
        DType::I8,
        Some(Quant::per_tensor(0.02, 0)),
        (0..48).map(|i| (i * 11) as u8).collect(),
    ));
    let f = g.add_tensor(act("fc.out", &[1, 4], 0.3, 2));
    g.add_node(
        Op::FullyConnected {
            activation: Activation::None,
            keep_num_dims: true,
            asymmetric_quantize_inputs: false,
        },
        vec![Some(r), Some(fw), None],
        vec![f],
    );
    let sm = g.add_tensor(act("softmax", &[1, 4], 1.0 / 256.0, -128));
    g.add_node(Op::Softmax { beta: 1.0 }, vec![Some(f)], vec![sm]);
    let out = g.add_tensor(float("output", &[1, 4]));
    g.add_node(Op::Dequantize, vec![Some(sm)], vec![out]);
    let rq = g.add_tensor(act("requant", &[1, 1, 1, 6], 0.1, 0));
    g.add_node(Op::Quantize, vec![Some(d)], vec![rq]);
    g.inputs = vec![input];
    g.outputs = vec![out, rq];
    g
}
