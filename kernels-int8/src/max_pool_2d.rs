//! MAX_POOL_2D, int8 (TFLite's `reference_integer_ops::MaxPool`).

use crate::window::{check_pool_buffers, pool_windows};
use crate::Dims4;

/// Integer parameters of an int8 pool (MAX_POOL_2D, AVERAGE_POOL_2D).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolParams {
    /// Stride along width.
    pub stride_w: usize,
    /// Stride along height.
    pub stride_h: usize,
    /// Window width.
    pub filter_w: usize,
    /// Window height.
    pub filter_h: usize,
    /// Padding before the first column.
    pub padding_w: usize,
    /// Padding before the first row.
    pub padding_h: usize,
    /// Lower clamp of the output (fused activation, int8 range).
    pub activation_min: i32,
    /// Upper clamp of the output (fused activation, int8 range).
    pub activation_max: i32,
}

/// Int8 max pool over NHWC; padded positions are skipped.
pub fn max_pool(
    params: &PoolParams,
    input_shape: Dims4,
    input: &[i8],
    output_shape: Dims4,
    output: &mut [i8],
) {
    check_pool_buffers(input_shape, input, output_shape, output);
    let depth = input_shape.c;
    #[cfg(target_arch = "x86_64")]
    if depth.is_multiple_of(8) {
        max_pool_sse2(params, input_shape, input, output_shape, output);
        return;
    }
    pool_windows(params, input_shape, output_shape, |b, pixel, win| {
        let out = &mut output[pixel * depth..][..depth];
        out.fill(i8::MIN);
        for in_y in win.y0..win.y0 + win.ny {
            for in_x in win.x0..win.x0 + win.nx {
                let row = &input[input_shape.offset(b, in_y, in_x, 0)..][..depth];
                for (o, &v) in out.iter_mut().zip(row) {
                    *o = (*o).max(v);
                }
            }
        }
        for o in out.iter_mut() {
            *o = i32::from(*o)
                .max(params.activation_min)
                .min(params.activation_max) as i8;
        }
    });
}

/// [`max_pool`] for depths that are multiples of 8, 16 or 8 channels per SSE2 step.
#[cfg(target_arch = "x86_64")]
fn max_pool_sse2(
    params: &PoolParams,
    input_shape: Dims4,
    input: &[i8],
    output_shape: Dims4,
    output: &mut [i8],
) {
    use crate::window::clipped;
    use core::arch::x86_64::*;
    let depth = input_shape.c;
    debug_assert_eq!(depth % 8, 0);
    if output_shape.w * depth == 0 {
        return; // No output to write (and no row to split the output into).
    }
    // Signed max as unsigned max of the values with the sign bit flipped (SSE2 has
    // no signed byte max); the clamp bounds are flipped alike.
    let flip = |v: i32| (v.clamp(-128, 127) as i8 as u8 ^ 0x80) as i8;
    // SAFETY: SSE2; every load/store touches 8 or 16 bytes inside a checked slice.
    unsafe {
        let sign = _mm_set1_epi8(i8::MIN);
        let lo = _mm_set1_epi8(flip(params.activation_min));
        let hi = _mm_set1_epi8(flip(params.activation_max));
        let row_step = input_shape.w * depth;
        let (sh, ph, fh) = (params.stride_h, params.padding_h, params.filter_h);
        let (sw, pw, fw) = (params.stride_w, params.padding_w, params.filter_w);
        let rows = output_shape.n * output_shape.h;
        for (row, out_row) in output
            .chunks_exact_mut(output_shape.w * depth)
            .take(rows)
            .enumerate()
        {
            let (b, out_y) = (row / output_shape.h, row % output_shape.h);
            let (fy0, fy1, in_y0) = clipped(out_y, sh, ph, fh, input_shape.h);
            for (out_x, out) in out_row.chunks_exact_mut(depth).enumerate() {
                let (fx0, fx1, in_x0) = clipped(out_x, sw, pw, fw, input_shape.w);
                let (ny, nx) = (fy1 - fy0, fx1 - fx0);
                let ny = if nx == 0 { 0 } else { ny };
                // The window's input, checked once: taps at (fy * W + fx) * depth.
                let taps: &[i8] = if ny == 0 {
                    &[]
                } else {
                    let (y0, x0) = (
                        (in_y0 + fy0 as isize) as usize,
                        (in_x0 + fx0 as isize) as usize,
                    );
                    let start = input_shape.offset(b, y0, x0, 0);
                    &input[start..start + (ny - 1) * row_step + nx * depth]
                };
                let tap = |fy: usize, fx: usize, c: usize, wide: bool| {
                    // In bounds: fy < ny, fx < nx, c + 8 (16 if wide) <= depth.
                    let p = taps.as_ptr().add(fy * row_step + fx * depth + c) as *const __m128i;
                    let v = if wide {
                        _mm_loadu_si128(p)
                    } else {
                        _mm_loadl_epi64(p)
                    };
                    _mm_xor_si128(v, sign)
                };
                let mut c = 0;
                while c < depth {
                    let wide = depth - c >= 16;
                    let m = if ny == 2 && nx == 2 {
                        _mm_max_epu8(
                            _mm_max_epu8(tap(0, 0, c, wide), tap(0, 1, c, wide)),
                            _mm_max_epu8(tap(1, 0, c, wide), tap(1, 1, c, wide)),
                        )
                    } else {
                        let mut m = _mm_setzero_si128(); // flipped i8::MIN
                        for fy in 0..ny {
                            for fx in 0..nx {
                                m = _mm_max_epu8(m, tap(fy, fx, c, wide));
                            }
                        }
                        m
                    };
                    let m = _mm_xor_si128(_mm_min_epu8(_mm_max_epu8(m, lo), hi), sign);
                    if wide {
                        let dst = &mut out[c..c + 16];
                        _mm_storeu_si128(dst.as_mut_ptr() as *mut __m128i, m);
                        c += 16;
                    } else {
                        let dst = &mut out[c..c + 8];
                        _mm_storel_epi64(dst.as_mut_ptr() as *mut __m128i, m);
                        c += 8;
                    }
                }
            }
        }
    }
}
