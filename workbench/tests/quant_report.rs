//! The quantization report compares each int8 layer with the float layer
//! applied to that layer's dequantized int8 input, element for element, across
//! the NCHW (candle) and NHWC (TFLite) layouts.

use candle_core::{Device, Tensor, Var};
use workbench::quant::{quant_report, quantize};
use workbench::train::{Activation, Layer, Padding, Samples, Sequential};

/// A model whose every layer is exact in int8, so any misaligned comparison
/// (channel order, flatten order) shows up as error:
/// 1x1 conv that swaps 2 channels, flatten (18 values in CHW order), dense
/// that reverses the 18 values.
fn exact_model() -> Sequential {
    let d = &Device::Cpu;
    // conv weight [out=2, in=2, 1, 1]: out0 = in1, out1 = in0.
    let conv_w = Tensor::from_vec(vec![0f32, 1.0, 1.0, 0.0], (2, 2, 1, 1), d).unwrap();
    let mut dense = vec![0f32; 18 * 18];
    for o in 0..18 {
        dense[o * 18 + (17 - o)] = 1.0;
    }
    Sequential {
        layers: vec![
            (
                "conv".into(),
                Layer::Conv2d {
                    weight: Var::from_tensor(&conv_w).unwrap(),
                    bias: Var::zeros(2, candle_core::DType::F32, d).unwrap(),
                    stride: (1, 1),
                    padding: Padding::Valid,
                    dilation: (1, 1),
                    activation: Activation::None,
                    use_bias: true,
                },
            ),
            ("flatten".into(), Layer::Flatten),
            (
                "dense".into(),
                Layer::Linear {
                    weight: Var::from_tensor(&Tensor::from_vec(dense, (18, 18), d).unwrap())
                        .unwrap(),
                    bias: Var::zeros(18, candle_core::DType::F32, d).unwrap(),
                    activation: Activation::None,
                },
            ),
        ],
        input_shape: [2, 3, 3],
    }
}

fn inputs(n: usize) -> Samples {
    // Values in [-1, 1], different in every position and channel.
    let v: Vec<f32> = (0..n * 18)
        .map(|i| ((i * 7919) % 201) as f32 / 100.0 - 1.0)
        .collect();
    Samples::new(v, vec![0; n], [2, 3, 3]).unwrap()
}

#[test]
fn exact_layers_report_zero_error_in_both_layouts() {
    let model = exact_model();
    let x = inputs(16);
    let q = quantize(&model, &x).unwrap();
    let report = quant_report(&model, &q, &x).unwrap();
    assert_eq!(report.rows.len(), 3);
    assert_eq!(
        report
            .rows
            .iter()
            .map(|r| r.op_name.as_str())
            .collect::<Vec<_>>(),
        ["CONV_2D", "RESHAPE", "FULLY_CONNECTED"]
    );
    assert_eq!(report.rows[0].num_elements, 18);
    for r in &report.rows {
        assert!(
            r.max_abs_error < 1e-6 && r.mean_squared_error < 1e-12,
            "{} ({}) should be exact: {r:?}",
            r.tensor_name,
            r.op_name
        );
    }
    // range = 255 * scale; the input spans [-1, 1] so every scale is 2/255.
    for r in &report.rows {
        assert!((r.range - 2.0).abs() < 1e-5, "{r:?}");
    }
}

#[test]
fn a_layer_that_rounds_reports_its_error() {
    // Each dense output mixes two inputs, out[o] = x[17 - o] + 0.37 x[o], which lands
    // between the output's int8 steps.
    let mut model = exact_model();
    let mut w = vec![0f32; 18 * 18];
    for o in 0..18 {
        w[o * 18 + (17 - o)] = 1.0;
        w[o * 18 + o] = 0.37;
    }
    if let Layer::Linear { weight, .. } = &mut model.layers[2].1 {
        let t = Tensor::from_vec(w, (18, 18), &Device::Cpu).unwrap();
        *weight = Var::from_tensor(&t).unwrap();
    }
    let x = inputs(32);
    let q = quantize(&model, &x).unwrap();
    let report = quant_report(&model, &q, &x).unwrap();
    let dense = &report.rows[2];
    // The output is rounded to its grid: every error is at most half a step,
    // and uniform rounding noise gives rmse/scale near 1/sqrt(12) = 0.289.
    assert!(dense.max_abs_error <= 0.5 * dense.scale + 1e-6, "{dense:?}");
    assert!(
        dense.rmse_over_scale > 0.2 && dense.rmse_over_scale < 0.35,
        "{dense:?}"
    );
    // The exact layers before it stay exact.
    assert!(report.rows[0].max_abs_error < 1e-6);
    let csv = report.to_csv();
    assert_eq!(csv.lines().count(), 4);
    assert!(csv.lines().nth(3).unwrap().starts_with("FULLY_CONNECTED,"));
}
