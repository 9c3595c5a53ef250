//! MAX_POOL_2D and AVERAGE_POOL_2D in float32 (TFLite's `reference_ops::MaxPool` / `AveragePool`, float).
//!
//! Windows are clipped to the input; the average divides by the number of
//! input cells inside the window (padding is not counted).

use crate::conv_2d_f32::FloatConvParams;
use crate::Dims4;

/// Float pooling; `filter_h x filter_w` windows; `average` picks AVERAGE_POOL_2D, else MAX_POOL_2D.
pub fn pool_f32(
    p: &FloatConvParams,
    filter_h: usize,
    filter_w: usize,
    average: bool,
    input_shape: Dims4,
    input: &[f32],
    output_shape: Dims4,
    output: &mut [f32],
) {
    for b in 0..output_shape.n {
        for oy in 0..output_shape.h {
            for ox in 0..output_shape.w {
                let y0 = (oy * p.stride_h) as isize - p.padding_h as isize;
                let x0 = (ox * p.stride_w) as isize - p.padding_w as isize;
                let fy0 = (-y0).max(0) as usize;
                let fy1 = filter_h.min((input_shape.h as isize - y0).max(0) as usize);
                let fx0 = (-x0).max(0) as usize;
                let fx1 = filter_w.min((input_shape.w as isize - x0).max(0) as usize);
                for c in 0..output_shape.c {
                    let mut acc = if average { 0.0f32 } else { f32::MIN };
                    let mut count = 0usize;
                    for fy in fy0..fy1 {
                        for fx in fx0..fx1 {
                            let iy = (y0 + fy as isize) as usize;
                            let ix = (x0 + fx as isize) as usize;
                            let v = input[input_shape.offset(b, iy, ix, c)];
                            if average {
                                acc += v;
                            } else {
                                acc = acc.max(v);
                            }
                            count += 1;
                        }
                    }
                    if average {
                        acc /= count as f32;
                    }
                    output[output_shape.offset(b, oy, ox, c)] =
                        acc.max(p.activation_min).min(p.activation_max);
                }
            }
        }
    }
}
