//! The float32 forms of CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, the
//! pools and SOFTMAX (TFLite's float reference kernels, `kernels_int8::*_f32`):
//! each op's `prepare` hands a float32 input here, and its `eval` a float kernel.
//!
//! A float32 input with constant int8 weights (TF's dynamic-range
//! quantization) makes the hybrid form of CONV_2D, DEPTHWISE_CONV_2D and
//! FULLY_CONNECTED ([`Kernel::Hybrid`], `kernels_int8::hybrid`): same
//! geometry, the weights' scales, and the input quantized on the fly.

use alloc::format;
use alloc::vec::Vec;

use kernels_int8 as k;
use kernels_int8::conv_2d_f32::FloatConvParams;
use kernels_int8::Dims4;

use crate::graph::{Activation, DType, Window};
use crate::prepare::{f32s, FloatOp, In, Kernel, Out, Prep};

/// The real bounds of a fused activation.
pub(crate) fn float_range(a: Activation) -> (f32, f32) {
    match a {
        Activation::None => (f32::NEG_INFINITY, f32::INFINITY),
        Activation::Relu => (0.0, f32::INFINITY),
        Activation::ReluN1To1 => (-1.0, 1.0),
        Activation::Relu6 => (0.0, 6.0),
    }
}

/// A constant float32 tensor's values (bias).
fn const_f32(p: &Prep<'_>, role: &str, t: usize, n: usize) -> crate::error::Result<Vec<f32>> {
    p.expect_dtype(role, t, DType::F32)?;
    p.expect_const(role, t)?;
    let tensor = p.tensor(t);
    let data = tensor.data.unwrap_or_default();
    if tensor.num_elements() != n || data.len() != 4 * n {
        return Err(p.err(format!(
            "{role} tensor {t} has {} values, expected {n}",
            tensor.num_elements()
        )));
    }
    Ok(data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// The optional float32 bias at input 2.
fn bias(p: &Prep<'_>, n: usize) -> crate::error::Result<Option<Vec<f32>>> {
    match p.node.inputs.get(2).copied().flatten() {
        Some(t) => Ok(Some(const_f32(p, "bias", t, n)?)),
        None => Ok(None),
    }
}

/// float32 CONV_2D (`depthwise` false) or DEPTHWISE_CONV_2D: input, filter
/// (constant float32) and output float32; the output shape from the window.
pub(crate) fn conv(
    p: &Prep<'_>,
    window: &Window,
    dilation_h: usize,
    dilation_w: usize,
    activation: Activation,
    depthwise: bool,
) -> crate::error::Result<Kernel> {
    let (input, filter, out) = (p.input(0)?, p.input(1)?, p.output());
    p.expect_dtype("input", input, DType::F32)?;
    let hybrid = p.tensor(filter).dtype == DType::I8;
    if !hybrid {
        p.expect_dtype("filter", filter, DType::F32)?;
    }
    p.expect_const("filter", filter)?;
    p.expect_dtype("output", out, DType::F32)?;
    let ishape = p.dims4("input", input)?;
    let fshape = p.dims4("filter", filter)?;
    let (channels, depth_multiplier) = if depthwise {
        if fshape.n != 1 || ishape.c == 0 || !fshape.c.is_multiple_of(ishape.c) {
            return Err(p.err(format!(
                "filter tensor {filter} has shape {:?}, expected [1, h, w, {} * multiplier] for input tensor {input}",
                p.tensor(filter).shape,
                ishape.c
            )));
        }
        (fshape.c, fshape.c / ishape.c)
    } else {
        if fshape.c != ishape.c {
            return Err(p.err(format!(
                "filter tensor {filter} has {} input channels, input tensor {input} has {}",
                fshape.c, ishape.c
            )));
        }
        (fshape.n, 0)
    };
    let s = p.spatial(window, ishape, fshape.h, fshape.w, dilation_h, dilation_w)?;
    let oshape = Dims4::new(ishape.n, s.out_h, s.out_w, channels);
    p.expect_shape(out, oshape)?;
    let (activation_min, activation_max) = float_range(activation);
    let mut params = FloatConvParams {
        stride_w: window.stride_w,
        stride_h: window.stride_h,
        dilation_w,
        dilation_h,
        padding_w: s.padding_w,
        padding_h: s.padding_h,
        activation_min,
        activation_max,
    };
    let bias = bias(p, channels)?;
    if !hybrid {
        return Ok(Kernel::Float {
            op: FloatOp::Conv {
                params,
                depth_multiplier,
                input_shape: ishape,
                filter_shape: fshape,
                output_shape: oshape,
            },
            bias,
        });
    }
    let scales = p.filter_scales(filter, channels, if depthwise { 3 } else { 0 })?;
    let per_channel = scales.len() > 1;
    if depthwise && scales.len() != channels {
        // TFLite 2.21 accepts it but indexes the scales per channel, past the end of this one.
        return Err(p.err(format!(
            "hybrid filter tensor {filter} has {} scale for {channels} channels: TFLite's hybrid DEPTHWISE_CONV_2D reads one per channel (its outputs are undefined); quantize the filter per channel",
            scales.len()
        )));
    }
    if !depthwise {
        if per_channel && scales.iter().all(|&s| s == scales[0]) {
            // TFLite then takes the per-tensor path with the tensor's legacy scale, which is 0.
            return Err(p.err(format!(
                "hybrid filter tensor {filter}: {channels} equal per-channel scales (TFLite runs them per tensor with scale 0); store one scale instead"
            )));
        }
        // TFLite's hybrid CONV_2D runs without dilation (the output shape keeps it).
        params.dilation_w = 1;
        params.dilation_h = 1;
    }
    Ok(Kernel::Hybrid {
        op: FloatOp::Conv {
            params,
            depth_multiplier,
            input_shape: ishape,
            filter_shape: fshape,
            output_shape: oshape,
        },
        scales,
        asymmetric: depthwise || per_channel,
        bias,
    })
}

/// float32 FULLY_CONNECTED: constant float32 weights `[units, depth]`; the
/// output resized as TFLite does (rows of `depth` inputs, or `keep_num_dims`).
pub(crate) fn fully_connected(
    p: &Prep<'_>,
    activation: Activation,
    keep_num_dims: bool,
    asymmetric_quantize_inputs: bool,
) -> crate::error::Result<Kernel> {
    let (input, weights, out) = (p.input(0)?, p.input(1)?, p.output());
    p.expect_dtype("input", input, DType::F32)?;
    let hybrid = p.tensor(weights).dtype == DType::I8;
    if !hybrid {
        p.expect_dtype("weights", weights, DType::F32)?;
    }
    p.expect_const("weights", weights)?;
    p.expect_dtype("output", out, DType::F32)?;
    let wshape = p.tensor(weights).shape;
    let [units, accum_depth] = *wshape else {
        return Err(p.err(format!(
            "weights tensor {weights}: expected rank 2, got shape {wshape:?}"
        )));
    };
    let ishape = p.tensor(input).shape;
    let in_elems = p.tensor(input).num_elements();
    if accum_depth == 0 || !in_elems.is_multiple_of(accum_depth) {
        return Err(p.err(format!(
            "weights tensor {weights} has {accum_depth} inputs, input tensor {input} has {in_elems}"
        )));
    }
    if units == 0 {
        return Err(p.err(format!("weights tensor {weights} has 0 output units")));
    }
    let batches = in_elems / accum_depth;
    if p.tensor(out).shape.last() != Some(&units) {
        return Err(p.err(format!(
            "output tensor {out} has {} values, expected {batches} x {units}",
            p.tensor(out).num_elements()
        )));
    }
    let out_shape = if keep_num_dims {
        let mut s = ishape[..ishape.len().saturating_sub(1)].to_vec();
        s.push(units);
        s
    } else {
        alloc::vec![batches, units]
    };
    if out_shape.iter().product::<usize>() != batches * units {
        return Err(p.err(format!(
            "input tensor {input} shape {ishape:?} does not end in {accum_depth} (keep_num_dims)"
        )));
    }
    p.resize_output(out_shape);
    let (activation_min, activation_max) = float_range(activation);
    let op = FloatOp::FullyConnected {
        activation_min,
        activation_max,
        accum_depth,
    };
    let bias = bias(p, units)?;
    if !hybrid {
        return Ok(Kernel::Float { op, bias });
    }
    Ok(Kernel::Hybrid {
        op,
        scales: p.filter_scales(weights, units, 0)?,
        asymmetric: asymmetric_quantize_inputs,
        bias,
    })
}

/// float32 MAX_POOL_2D (`max`) or AVERAGE_POOL_2D.
pub(crate) fn pool(
    p: &Prep<'_>,
    window: &Window,
    filter_h: usize,
    filter_w: usize,
    activation: Activation,
    max: bool,
) -> crate::error::Result<Kernel> {
    let (input, out) = (p.input(0)?, p.output());
    p.expect_dtype("input", input, DType::F32)?;
    p.expect_dtype("output", out, DType::F32)?;
    let ishape = p.dims4("input", input)?;
    let s = p.spatial(window, ishape, filter_h, filter_w, 1, 1)?;
    let oshape = Dims4::new(ishape.n, s.out_h, s.out_w, ishape.c);
    p.expect_shape(out, oshape)?;
    let (activation_min, activation_max) = float_range(activation);
    Ok(Kernel::Float {
        op: FloatOp::Pool {
            params: FloatConvParams {
                stride_w: window.stride_w,
                stride_h: window.stride_h,
                dilation_w: 1,
                dilation_h: 1,
                padding_w: s.padding_w,
                padding_h: s.padding_h,
                activation_min,
                activation_max,
            },
            filter_h,
            filter_w,
            average: !max,
            input_shape: ishape,
            output_shape: oshape,
        },
        bias: None,
    })
}

/// float32 SOFTMAX over the last dimension.
pub(crate) fn softmax(p: &Prep<'_>, beta: f32) -> crate::error::Result<Kernel> {
    let (input, out) = (p.input(0)?, p.output());
    p.expect_dtype("input", input, DType::F32)?;
    p.expect_dtype("output", out, DType::F32)?;
    let shape = p.tensor(input).shape;
    if shape != p.tensor(out).shape || shape.is_empty() {
        return Err(p.err(format!(
            "output tensor {out} shape {:?} differs from input tensor {input} shape {shape:?}",
            p.tensor(out).shape
        )));
    }
    if !beta.is_finite() {
        return Err(p.err(format!("beta {beta} is not finite")));
    }
    Ok(Kernel::Float {
        op: FloatOp::Softmax {
            beta,
            depth: *shape.last().unwrap_or(&1),
        },
        bias: None,
    })
}

/// Runs a hybrid kernel (int8 weights `y`, input quantized into `scratch`); returns false if `kernel` is not one.
pub(crate) fn eval_hybrid(
    kernel: &Kernel,
    x: In<'_>,
    y: In<'_>,
    out: Out<'_>,
    scratch: &mut [i8],
) -> bool {
    let Kernel::Hybrid {
        op,
        scales,
        asymmetric,
        bias,
    } = kernel
    else {
        return false;
    };
    let (Out::F32(o), In::I8(w)) = (out, y) else {
        return true;
    };
    let (x, b) = (f32s(x), bias.as_deref());
    match *op {
        FloatOp::Conv {
            ref params,
            depth_multiplier: 0,
            input_shape,
            filter_shape,
            output_shape,
        } => k::hybrid::conv(
            params,
            input_shape,
            x,
            filter_shape,
            w,
            scales,
            b,
            output_shape,
            o,
            scratch,
        ),
        FloatOp::Conv {
            ref params,
            depth_multiplier,
            input_shape,
            filter_shape,
            output_shape,
        } => k::hybrid::depthwise_conv(
            params,
            depth_multiplier,
            input_shape,
            x,
            filter_shape,
            w,
            scales,
            b,
            output_shape,
            o,
            scratch,
        ),
        FloatOp::FullyConnected {
            activation_min,
            activation_max,
            accum_depth,
        } => k::hybrid::fully_connected(
            activation_min,
            activation_max,
            accum_depth,
            *asymmetric,
            x,
            w,
            scales,
            b,
            o,
            scratch,
        ),
        FloatOp::Pool { .. } | FloatOp::Softmax { .. } => {}
    }
    true
}

/// Runs a float32 kernel; returns false if `kernel` is not one.
pub(crate) fn eval(kernel: &Kernel, x: In<'_>, y: In<'_>, out: Out<'_>) -> bool {
    let (Kernel::Float { op, bias }, Out::F32(o)) = (kernel, out) else {
        return matches!(kernel, Kernel::Float { .. });
    };
    let (x, y, b) = (f32s(x), f32s(y), bias.as_deref());
    match *op {
        FloatOp::Conv {
            ref params,
            depth_multiplier: 0,
            input_shape,
            filter_shape,
            output_shape,
        } => k::conv_2d_f32::conv_f32(params, input_shape, x, filter_shape, y, b, output_shape, o),
        FloatOp::Conv {
            ref params,
            depth_multiplier,
            input_shape,
            filter_shape,
            output_shape,
        } => k::depthwise_conv_2d_f32::depthwise_conv_f32(
            params,
            depth_multiplier,
            input_shape,
            x,
            filter_shape,
            y,
            b,
            output_shape,
            o,
        ),
        FloatOp::FullyConnected {
            activation_min,
            activation_max,
            accum_depth,
        } => k::fully_connected_f32::fully_connected_f32(
            activation_min,
            activation_max,
            accum_depth,
            x,
            y,
            b,
            o,
        ),
        FloatOp::Pool {
            ref params,
            filter_h,
            filter_w,
            average,
            input_shape,
            output_shape,
        } => k::pool_2d_f32::pool_f32(
            params,
            filter_h,
            filter_w,
            average,
            input_shape,
            x,
            output_shape,
            o,
        ),
        FloatOp::Softmax { beta, depth } => k::softmax_f32::softmax_f32(beta, depth, x, o),
    }
    true
}
