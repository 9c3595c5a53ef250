//! The estimate of the MNIST tutorial net, checked by hand.

use workbench::estimate::estimate;
use workbench::tflite::{Activation, DType, Graph, Op, Padding, Quant, Tensor, Window};

fn act(g: &mut Graph, name: &str, shape: &[usize]) -> usize {
    g.add_tensor(Tensor {
        name: name.into(),
        shape: shape.to_vec(),
        dtype: DType::I8,
        quant: Some(Quant::per_tensor(0.1, 0)),
        data: None,
    })
}

fn constant(g: &mut Graph, name: &str, shape: &[usize], dtype: DType) -> usize {
    let n: usize = shape.iter().product();
    g.add_tensor(Tensor {
        name: name.into(),
        shape: shape.to_vec(),
        dtype,
        quant: None,
        data: Some(vec![0; n * dtype.size()]),
    })
}

fn valid(stride: usize) -> Window {
    Window {
        padding: Padding::Valid,
        stride_w: stride,
        stride_h: stride,
    }
}

fn conv(g: &mut Graph, name: &str, input: usize, w: [usize; 4], out: &[usize]) -> usize {
    let wt = constant(g, &format!("{name}.weight"), &w, DType::I8);
    let b = constant(g, &format!("{name}.bias"), &[w[0]], DType::I32);
    let o = act(g, &format!("{name}.out"), out);
    let op = Op::Conv2d {
        window: valid(1),
        dilation_w: 1,
        dilation_h: 1,
        activation: Activation::Relu,
    };
    g.add_node(op, vec![Some(input), Some(wt), Some(b)], vec![o]);
    o
}

fn pool(g: &mut Graph, name: &str, input: usize, out: &[usize]) -> usize {
    let o = act(g, name, out);
    let op = Op::MaxPool2d {
        window: valid(2),
        filter_w: 2,
        filter_h: 2,
        activation: Activation::None,
    };
    g.add_node(op, vec![Some(input)], vec![o]);
    o
}

fn fc(g: &mut Graph, name: &str, input: usize, out_f: usize, in_f: usize) -> usize {
    let wt = constant(g, &format!("{name}.weight"), &[out_f, in_f], DType::I8);
    let b = constant(g, &format!("{name}.bias"), &[out_f], DType::I32);
    let o = act(g, &format!("{name}.out"), &[1, out_f]);
    let op = Op::FullyConnected {
        activation: Activation::None,
        keep_num_dims: false,
        asymmetric_quantize_inputs: false,
    };
    g.add_node(op, vec![Some(input), Some(wt), Some(b)], vec![o]);
    o
}

/// input 28x28x1 -> conv 8@3x3 -> pool 2 -> conv 16@3x3 -> pool 2 -> conv 32@5x5 -> reshape -> fc 64 -> fc 10 -> softmax.
fn mnist_net() -> Graph {
    let mut g = Graph::default();
    let x = act(&mut g, "input", &[1, 28, 28, 1]);
    let c1 = conv(&mut g, "conv1", x, [8, 3, 3, 1], &[1, 26, 26, 8]);
    let p1 = pool(&mut g, "pool1", c1, &[1, 13, 13, 8]);
    let c2 = conv(&mut g, "conv2", p1, [16, 3, 3, 8], &[1, 11, 11, 16]);
    let p2 = pool(&mut g, "pool2", c2, &[1, 5, 5, 16]);
    let c3 = conv(&mut g, "conv3", p2, [32, 5, 5, 16], &[1, 1, 1, 32]);
    let shape = constant(&mut g, "flatten.shape", &[2], DType::I32);
    let flat = act(&mut g, "flatten.out", &[1, 32]);
    g.add_node(Op::Reshape, vec![Some(c3), Some(shape)], vec![flat]);
    let f1 = fc(&mut g, "fc1", flat, 64, 32);
    let f2 = fc(&mut g, "fc2", f1, 10, 64);
    let sm = act(&mut g, "softmax", &[1, 10]);
    g.add_node(Op::Softmax { beta: 1.0 }, vec![Some(f2)], vec![sm]);
    g.inputs = vec![x];
    g.outputs = vec![sm];
    g
}

#[test]
fn mnist_tutorial_net_by_hand() {
    let e = estimate(&mnist_net());
    let macs: Vec<u64> = e.layers.iter().map(|l| l.macs).collect();
    assert_eq!(
        macs,
        [
            48_672,  // conv1: 26*26*8 outputs * 3*3*1 = 5408 * 9
            0,       // pool1
            139_392, // conv2: 11*11*16 outputs * 3*3*8 = 1936 * 72
            0,       // pool2
            12_800,  // conv3: 1*1*32 outputs * 5*5*16 = 32 * 400
            0,       // reshape
            2_048,   // fc1: 64 outputs * 32 inputs
            640,     // fc2: 10 outputs * 64 inputs
            0,       // softmax
        ]
    );
    // 48,672 + 139,392 + 12,800 + 2,048 + 640
    assert_eq!(e.macs, 203_552);
    let params: Vec<usize> = e.layers.iter().map(|l| l.params).collect();
    // Keras's counts: conv 3*3*1*8+8, 3*3*8*16+16, 5*5*16*32+32; dense 32*64+64, 64*10+10.
    assert_eq!(params, [80, 0, 1_168, 0, 12_832, 0, 2_112, 650, 0]);
    assert_eq!(e.params(), 16_842);
    // ROM int8: weights 72 + 1,152 + 12,800 + 2,048 + 640 = 16,712.
    // ROM int32: biases (8+16+32+64+10)*4 = 520, plus the reshape's 2-element shape = 8.
    assert_eq!(e.rom_by_type, vec![(DType::I8, 16_712), (DType::I32, 528)]);
    assert_eq!(e.rom_bytes, 17_240);
    // RAM worst: 784 + 5,408 + 1,352 + 1,936 + 400 + 32 + 32 + 64 + 10 + 10 = 10,028.
    assert_eq!(e.ram_bytes_worst, 10_028);
    // RAM best: pool1 holds 26*26*8 = 5,408 in and 13*13*8 = 1,352 out = 6,760
    // (conv1 is 784 + 5,408 = 6,192).
    assert_eq!(e.ram_bytes_best, 6_760);
    assert_eq!(e.layers[2].op, "CONV_2D");
    assert_eq!(e.layers[2].output_shape, [1, 11, 11, 16]);

    let expected = "  \
  #  op               output         MACs  params
  0  CONV_2D          1x26x26x8    48,672      80
  1  MAX_POOL_2D      1x13x13x8         0       0
  2  CONV_2D          1x11x11x16  139,392   1,168
  3  MAX_POOL_2D      1x5x5x16          0       0
  4  CONV_2D          1x1x1x32     12,800  12,832
  5  RESHAPE          1x32              0       0
  6  FULLY_CONNECTED  1x64          2,048   2,112
  7  FULLY_CONNECTED  1x10            640     650
  8  SOFTMAX          1x10              0       0
     total                        203,552  16,842
ROM 17,240 bytes (int8 16,712, int32 528)
RAM 6,760 bytes best (two live buffers), 10,028 bytes worst (every activation)";
    assert_eq!(e.to_string(), expected);
}

#[test]
fn depthwise_macs() {
    // 1x8x8x4 input, depthwise 3x3 multiplier 2, SAME -> 1x8x8x8: 8*8*8 outputs * 3*3 = 4,608.
    let mut g = Graph::default();
    let x = act(&mut g, "in", &[1, 8, 8, 4]);
    let w = constant(&mut g, "dw.weight", &[1, 3, 3, 8], DType::I8);
    let o = act(&mut g, "dw.out", &[1, 8, 8, 8]);
    let op = Op::DepthwiseConv2d {
        window: Window {
            padding: Padding::Same,
            stride_w: 1,
            stride_h: 1,
        },
        dilation_w: 1,
        dilation_h: 1,
        depth_multiplier: 2,
        activation: Activation::Relu6,
    };
    g.add_node(op, vec![Some(x), Some(w), None], vec![o]);
    let e = estimate(&g);
    assert_eq!(e.macs, 4_608);
    // 3*3*8 weights, no bias.
    assert_eq!(e.layers[0].params, 72);
    // 256 in + 512 out.
    assert_eq!(e.ram_bytes_best, 768);
}

#[test]
fn malformed_graph_does_not_panic() {
    // A conv whose filter index points nowhere: 0 MACs, no panic.
    let mut g = Graph::default();
    let x = act(&mut g, "in", &[1, 4, 4, 1]);
    let o = act(&mut g, "out", &[1, 2, 2, 1]);
    let op = Op::Conv2d {
        window: valid(1),
        dilation_w: 1,
        dilation_h: 1,
        activation: Activation::None,
    };
    g.add_node(op, vec![Some(x), Some(99)], vec![o]);
    let e = estimate(&g);
    assert_eq!(e.macs, 0);
    assert_eq!(e.ram_bytes_worst, 16 + 4);
}
