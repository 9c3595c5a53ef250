//! DEPTHWISE_CONV_2D in float32 (TFLite's `reference_ops::DepthwiseConv`, float path).
//!
//! Input NHWC, filter `1HW(I*M)`, output NHWC with channel `ic * M + m`.

use crate::conv_2d_f32::{tap, FloatConvParams};
use crate::Dims4;

/// Float DEPTHWISE_CONV_2D with `depth_multiplier` outputs per input channel.
pub fn depthwise_conv_f32(
    p: &FloatConvParams,
    depth_multiplier: usize,
    input_shape: Dims4,
    input: &[f32],
    filter_shape: Dims4,
    filter: &[f32],
    bias: Option<&[f32]>,
    output_shape: Dims4,
    output: &mut [f32],
) {
    debug_assert_eq!(output_shape.c, input_shape.c * depth_multiplier);
    debug_assert_eq!(filter_shape.c, output_shape.c);
    for b in 0..output_shape.n {
        for oy in 0..output_shape.h {
            for ox in 0..output_shape.w {
                for ic in 0..input_shape.c {
                    for m in 0..depth_multiplier {
                        let oc = ic * depth_multiplier + m;
                        let mut total = 0.0f32;
                        for fy in 0..filter_shape.h {
                            let Some(iy) =
                                tap(oy, p.stride_h, p.padding_h, fy, p.dilation_h, input_shape.h)
                            else {
                                continue;
                            };
                            for fx in 0..filter_shape.w {
                                let Some(ix) = tap(
                                    ox,
                                    p.stride_w,
                                    p.padding_w,
                                    fx,
                                    p.dilation_w,
                                    input_shape.w,
                                ) else {
                                    continue;
                                };
                                total += input[input_shape.offset(b, iy, ix, ic)]
                                    * filter[filter_shape.offset(0, fy, fx, oc)];
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
}
