//! CONV_2D in float32 (TFLite's `reference_ops::Conv`, float path).
//!
//! Same layouts as the int8 kernel: input NHWC, filter OHWI, output NHWC.
//! Products are summed in the reference's order (filter row, column, input
//! channel), then the bias is added and the activation clamp applied.

use crate::Dims4;

/// Geometry and fused-activation bounds of a float convolution or pooling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloatConvParams {
    /// Horizontal stride.
    pub stride_w: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal dilation (1 for pools).
    pub dilation_w: usize,
    /// Vertical dilation (1 for pools).
    pub dilation_h: usize,
    /// Left padding.
    pub padding_w: usize,
    /// Top padding.
    pub padding_h: usize,
    /// Lower output clamp (`-inf` without activation).
    pub activation_min: f32,
    /// Upper output clamp (`inf` without activation).
    pub activation_max: f32,
}

/// Input position of output `o` and filter tap `f` along one axis, if inside the input.
#[inline(always)]
pub(crate) fn tap(
    o: usize,
    stride: usize,
    pad: usize,
    f: usize,
    dilation: usize,
    size: usize,
) -> Option<usize> {
    let i = (o * stride + f * dilation) as isize - pad as isize;
    (i >= 0 && (i as usize) < size).then_some(i as usize)
}

/// Float CONV_2D: `input` NHWC, `filter` OHWI, optional `bias` per output channel, `output` NHWC.
pub fn conv_f32(
    p: &FloatConvParams,
    input_shape: Dims4,
    input: &[f32],
    filter_shape: Dims4,
    filter: &[f32],
    bias: Option<&[f32]>,
    output_shape: Dims4,
    output: &mut [f32],
) {
    debug_assert_eq!(input.len(), input_shape.flat_size());
    debug_assert_eq!(filter.len(), filter_shape.flat_size());
    debug_assert_eq!(output.len(), output_shape.flat_size());
    debug_assert_eq!(filter_shape.c, input_shape.c);
    for b in 0..output_shape.n {
        for oy in 0..output_shape.h {
            for ox in 0..output_shape.w {
                for oc in 0..output_shape.c {
                    let mut total = 0.0f32;
                    for fy in 0..filter_shape.h {
                        let Some(iy) =
                            tap(oy, p.stride_h, p.padding_h, fy, p.dilation_h, input_shape.h)
                        else {
                            continue;
                        };
                        for fx in 0..filter_shape.w {
                            let Some(ix) =
                                tap(ox, p.stride_w, p.padding_w, fx, p.dilation_w, input_shape.w)
                            else {
                                continue;
                            };
                            for ic in 0..input_shape.c {
                                total += input[input_shape.offset(b, iy, ix, ic)]
                                    * filter[filter_shape.offset(oc, fy, fx, ic)];
                            }
                        }
                    }
                    let bias_value = bias.map_or(0.0, |bs| bs[oc]);
                    output[output_shape.offset(b, oy, ox, oc)] = (total + bias_value)
                        .max(p.activation_min)
                        .min(p.activation_max);
                }
            }
        }
    }
}
