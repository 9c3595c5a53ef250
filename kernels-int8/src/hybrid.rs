//! Hybrid (dynamic-range) CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED, as
//! TFLite's hybrid reference kernels run them: float32 input and output,
//! int8 symmetric weights (zero point 0).
//!
//! The float input is quantized to int8 on the fly, per batch image for the
//! convolutions and per row for FULLY_CONNECTED, into a caller's scratch
//! buffer; products are accumulated in int32 and rescaled to float with the
//! input's and the filter's scales, then the float bias and clamp apply.
//! Per-channel convolutions and depthwise convolutions quantize the input
//! asymmetrically, per-tensor convolutions symmetrically; FULLY_CONNECTED
//! follows its `asymmetric_quantize_inputs` option.
//!
//! TFLite's orders of float operations are kept, as they decide the last bit:
//! - CONV_2D per channel: `acc * filter_scale[c] * input_scale + bias`;
//! - CONV_2D per tensor: `acc * (input_scale * filter_scale) + bias`;
//! - DEPTHWISE_CONV_2D: `acc * (filter_scale[c] * input_scale) + bias`;
//! - FULLY_CONNECTED: `bias + (acc - zero_point * row_sum) * (input_scale * filter_scale[c])`,
//!   the zero-point correction computed in float as TFLite does.
//!
//! Taps outside the image are skipped (the convolutions subtract the zero
//! point per tap inside it). TFLite's hybrid CONV_2D runs without dilation
//! whatever the options say: callers pass the dilation they want run.

use crate::conv_2d_f32::{tap, FloatConvParams};
use crate::requant::round_f32;
use crate::Dims4;

/// The quantization of one on-the-fly quantized slice: `real = scale * (q - zero_point)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputQuant {
    /// Scale (1 for an all-zero slice).
    pub scale: f32,
    /// Zero point in `-128..=127` (0 when symmetric).
    pub zero_point: i32,
}

/// The smallest and largest value (infinities for an empty slice).
fn min_max(values: &[f32]) -> (f32, f32) {
    values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (if v < lo { v } else { lo }, if v > hi { v } else { hi })
        })
}

/// `q = zero_point + round(x / scale)`, saturated to int8 (an infinite or
/// huge quotient from a denormal range clamps instead of overflowing).
#[inline(always)]
fn quantize_one(x: f32, scale: f32, zero_point: i32, lo: i32, hi: i32) -> i8 {
    // `as` saturates (NaN becomes 0), and the add saturates too.
    let q = round_f32(x / scale) as i32;
    zero_point.saturating_add(q).clamp(lo, hi) as i8
}

/// Quantizes `values` to int8 over their range widened to contain 0 (TFLite's `AsymmetricQuantizeFloats`).
pub fn quantize_asymmetric(values: &[f32], out: &mut [i8]) -> InputQuant {
    // As the ai-edge-litert wheel computes it (checked against its outputs):
    // scale and zero point in float32, then `q = zp + round(x / scale)`.
    debug_assert!(out.len() >= values.len());
    let (lo, hi) = min_max(values);
    let (rmin, rmax) = (lo.min(0.0), hi.max(0.0));
    if values.is_empty() || rmin == rmax || !(rmax - rmin).is_finite() {
        out[..values.len()].fill(0);
        return InputQuant {
            scale: 1.0,
            zero_point: 0,
        };
    }
    let (qmin, qmax) = (-128.0f32, 127.0f32);
    let scale = (rmax - rmin) / (qmax - qmin);
    let from_min = qmin - rmin / scale;
    let from_max = qmax - rmax / scale;
    let err_min = qmin.abs() + (rmin / scale).abs();
    let err_max = qmax.abs() + (rmax / scale).abs();
    let zp = if err_min < err_max {
        from_min
    } else {
        from_max
    };
    // A denormal range can make the scale 0 and `zp` NaN: `as` gives 0 then.
    let zero_point = if zp <= qmin {
        -128
    } else if zp >= qmax {
        127
    } else {
        round_f32(zp) as i32
    };
    for (o, &x) in out.iter_mut().zip(values) {
        *o = quantize_one(x, scale, zero_point, -128, 127);
    }
    InputQuant { scale, zero_point }
}

/// Quantizes `values` symmetrically to `-127..=127` (TFLite's `SymmetricQuantizeFloats`).
pub fn quantize_symmetric(values: &[f32], out: &mut [i8]) -> InputQuant {
    debug_assert!(out.len() >= values.len());
    let (lo, hi) = min_max(values);
    let range = lo.abs().max(hi.abs());
    if values.is_empty() || range == 0.0 || !range.is_finite() {
        out[..values.len()].fill(0);
        return InputQuant {
            scale: 1.0,
            zero_point: 0,
        };
    }
    let inv = 127.0 / range;
    for (o, &x) in out.iter_mut().zip(values) {
        // `as` saturates an infinite product (denormal range); NaN (0 * inf) becomes 0.
        *o = (round_f32(x * inv) as i32).clamp(-127, 127) as i8;
    }
    InputQuant {
        scale: range / 127.0,
        zero_point: 0,
    }
}

/// Hybrid CONV_2D: `input` NHWC, `filter` OHWI int8 with one scale or one per
/// output channel, float `bias`; `scratch` holds at least one input image.
pub fn conv(
    p: &FloatConvParams,
    input_shape: Dims4,
    input: &[f32],
    filter_shape: Dims4,
    filter: &[i8],
    filter_scale: &[f32],
    bias: Option<&[f32]>,
    output_shape: Dims4,
    output: &mut [f32],
    scratch: &mut [i8],
) {
    let image = input_shape.h * input_shape.w * input_shape.c;
    debug_assert!(scratch.len() >= image);
    debug_assert_eq!(filter_shape.c, input_shape.c);
    let per_channel = filter_scale.len() > 1;
    let one = Dims4::new(1, input_shape.h, input_shape.w, input_shape.c);
    for b in 0..output_shape.n {
        let x = &input[b * image..(b + 1) * image];
        let q = &mut scratch[..image];
        let iq = if per_channel {
            quantize_asymmetric(x, q)
        } else {
            quantize_symmetric(x, q)
        };
        let q = &*q;
        let tensor_scale = if per_channel {
            0.0
        } else {
            iq.scale * filter_scale[0]
        };
        for oy in 0..output_shape.h {
            for ox in 0..output_shape.w {
                for oc in 0..output_shape.c {
                    let mut acc = 0i32;
                    for fy in 0..filter_shape.h {
                        let Some(iy) = tap(oy, p.stride_h, p.padding_h, fy, p.dilation_h, one.h)
                        else {
                            continue;
                        };
                        for fx in 0..filter_shape.w {
                            let Some(ix) =
                                tap(ox, p.stride_w, p.padding_w, fx, p.dilation_w, one.w)
                            else {
                                continue;
                            };
                            let xs = &q[one.offset(0, iy, ix, 0)..][..one.c];
                            let ws = &filter[filter_shape.offset(oc, fy, fx, 0)..][..one.c];
                            for (&xv, &wv) in xs.iter().zip(ws) {
                                acc += i32::from(wv) * (i32::from(xv) - iq.zero_point);
                            }
                        }
                    }
                    let scaled = if per_channel {
                        acc as f32 * filter_scale[oc] * iq.scale
                    } else {
                        acc as f32 * tensor_scale
                    };
                    let v = scaled + bias.map_or(0.0, |bs| bs[oc]);
                    output[output_shape.offset(b, oy, ox, oc)] =
                        v.max(p.activation_min).min(p.activation_max);
                }
            }
        }
    }
}

/// Hybrid DEPTHWISE_CONV_2D: `filter` 1HW(I*M) int8 with one scale per output
/// channel, input quantized asymmetrically per image into `scratch`.
pub fn depthwise_conv(
    p: &FloatConvParams,
    depth_multiplier: usize,
    input_shape: Dims4,
    input: &[f32],
    filter_shape: Dims4,
    filter: &[i8],
    filter_scale: &[f32],
    bias: Option<&[f32]>,
    output_shape: Dims4,
    output: &mut [f32],
    scratch: &mut [i8],
) {
    let image = input_shape.h * input_shape.w * input_shape.c;
    debug_assert!(scratch.len() >= image);
    debug_assert_eq!(output_shape.c, input_shape.c * depth_multiplier);
    let one = Dims4::new(1, input_shape.h, input_shape.w, input_shape.c);
    for b in 0..output_shape.n {
        let q = &mut scratch[..image];
        let iq = quantize_asymmetric(&input[b * image..(b + 1) * image], q);
        let q = &*q;
        for oy in 0..output_shape.h {
            for ox in 0..output_shape.w {
                for ic in 0..input_shape.c {
                    for m in 0..depth_multiplier {
                        let oc = ic * depth_multiplier + m;
                        let mut acc = 0i32;
                        for fy in 0..filter_shape.h {
                            let Some(iy) =
                                tap(oy, p.stride_h, p.padding_h, fy, p.dilation_h, one.h)
                            else {
                                continue;
                            };
                            for fx in 0..filter_shape.w {
                                let Some(ix) =
                                    tap(ox, p.stride_w, p.padding_w, fx, p.dilation_w, one.w)
                                else {
                                    continue;
                                };
                                let xv = i32::from(q[one.offset(0, iy, ix, ic)]);
                                let wv = i32::from(filter[filter_shape.offset(0, fy, fx, oc)]);
                                acc += wv * (xv - iq.zero_point);
                            }
                        }
                        let scale = filter_scale[if filter_scale.len() > 1 { oc } else { 0 }];
                        let v = acc as f32 * (scale * iq.scale) + bias.map_or(0.0, |bs| bs[oc]);
                        output[output_shape.offset(b, oy, ox, oc)] =
                            v.max(p.activation_min).min(p.activation_max);
                    }
                }
            }
        }
    }
}

/// Hybrid FULLY_CONNECTED over `input.len() / accum_depth` rows: weights
/// `[units, accum_depth]` int8 with one scale or one per unit, each row
/// quantized (asymmetrically if `asymmetric`) into `scratch`.
pub fn fully_connected(
    activation_min: f32,
    activation_max: f32,
    accum_depth: usize,
    asymmetric: bool,
    input: &[f32],
    weights: &[i8],
    filter_scale: &[f32],
    bias: Option<&[f32]>,
    output: &mut [f32],
    scratch: &mut [i8],
) {
    debug_assert!(accum_depth > 0 && input.len().is_multiple_of(accum_depth));
    debug_assert!(scratch.len() >= accum_depth);
    let units = weights.len() / accum_depth;
    if units == 0 {
        return;
    }
    for (row, out_row) in input
        .chunks_exact(accum_depth)
        .zip(output.chunks_exact_mut(units))
    {
        let q = &mut scratch[..accum_depth];
        let iq = if asymmetric {
            quantize_asymmetric(row, q)
        } else {
            quantize_symmetric(row, q)
        };
        let q = &*q;
        for (u, (out, w)) in out_row
            .iter_mut()
            .zip(weights.chunks_exact(accum_depth))
            .enumerate()
        {
            let (mut acc, mut sum) = (0i32, 0i32);
            for (&xv, &wv) in q.iter().zip(w) {
                acc += i32::from(wv) * i32::from(xv);
                sum += i32::from(wv);
            }
            if iq.zero_point != 0 {
                // TFLite subtracts the zero point's share in float, then truncates.
                acc = (acc as f32 - sum as f32 * iq.zero_point as f32) as i32;
            }
            let scale = iq.scale * filter_scale[if filter_scale.len() > 1 { u } else { 0 }];
            let v = bias.map_or(0.0, |b| b[u]) + acc as f32 * scale;
            *out = v.max(activation_min).min(activation_max);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asymmetric_covers_zero_and_the_range() {
        let x = [-1.0f32, 0.0, 0.5, 3.0];
        let mut q = [0i8; 4];
        let iq = quantize_asymmetric(&x, &mut q);
        assert_eq!(iq.scale, 4.0f32 / 255.0);
        assert_eq!(q[0], -128);
        assert_eq!(q[3], 127);
        assert_eq!(i32::from(q[1]), iq.zero_point);
    }

    #[test]
    fn zero_ranges_give_zeros_and_scale_one() {
        let mut q = [5i8; 3];
        assert_eq!(
            quantize_asymmetric(&[0.0; 3], &mut q),
            InputQuant {
                scale: 1.0,
                zero_point: 0
            }
        );
        assert_eq!(q, [0; 3]);
        let mut q = [5i8; 3];
        assert_eq!(quantize_symmetric(&[0.0, -0.0, 0.0], &mut q).scale, 1.0);
        assert_eq!(q, [0; 3]);
    }

    #[test]
    fn denormal_ranges_saturate() {
        // The scale of these ranges rounds to 0: x / 0 is infinite.
        let tiny = f32::from_bits(1);
        let mut q = [0i8; 3];
        let iq = quantize_asymmetric(&[tiny, 0.0, -tiny], &mut q);
        assert_eq!(iq.scale, 0.0);
        assert_eq!(q[0], 127);
        assert_eq!(q[2], -128);
        let mut q = [0i8; 3];
        quantize_asymmetric(&[tiny, 0.0, tiny], &mut q);
        assert_eq!(q[0], 127);
        let mut q = [0i8; 3];
        quantize_symmetric(&[tiny, 0.0, -tiny], &mut q);
        assert_eq!(q, [127, 0, -127]);
    }

    #[test]
    fn fully_connected_matches_float_on_exact_values() {
        // Inputs on the quantization grid: the hybrid result equals the float one.
        let x = [0.0f32, 1.0, 2.0, -1.0];
        let w = [1i8, 2, 3, 4, -1, 0, 1, 2];
        let mut out = [0.0f32; 2];
        let mut scratch = [0i8; 4];
        fully_connected(
            f32::NEG_INFINITY,
            f32::INFINITY,
            4,
            false,
            &x,
            &w,
            &[0.5, 0.25],
            Some(&[1.0, -1.0]),
            &mut out,
            &mut scratch,
        );
        let want = [1.0 + 0.5 * (2.0 + 6.0 - 4.0), -1.0 + 0.25 * (2.0 - 2.0)];
        for (o, w) in out.iter().zip(want) {
            assert!((o - w).abs() < 0.05, "{out:?} vs {want:?}");
        }
    }
}
