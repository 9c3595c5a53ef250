//! FULLY_CONNECTED, int8 (TFLite's `reference_integer_ops::FullyConnected` and `FullyConnectedPerChannel`).
//!
//! Each accumulator sums `accum_depth` products `(w + w_off) * (x + x_off)` of
//! magnitude <= 255 * 255 plus the bias: exact in i32 up to about 33,000 inputs;
//! beyond that both paths wrap identically.

use crate::conv_2d::{dot_i8, sum_i8};
use crate::requant::multiply_by_quantized_multiplier;

/// Integer parameters of an int8 FULLY_CONNECTED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FullyConnectedParams {
    /// Minus the input zero point.
    pub input_offset: i32,
    /// Minus the weights zero point (0 for symmetric weights).
    pub weights_offset: i32,
    /// The output zero point.
    pub output_offset: i32,
    /// Lower clamp of the output (fused activation, int8 range).
    pub activation_min: i32,
    /// Upper clamp of the output (fused activation, int8 range).
    pub activation_max: i32,
}

/// How an accumulator becomes an output value before the zero point and clamp.
pub(crate) trait Rescale {
    /// Entries: 1 (per tensor) or one per output channel.
    fn len(&self) -> usize;
    /// The rescaled accumulator of output channel `oc`.
    fn rescale(&self, acc: i32, oc: usize) -> i32;
}

/// TFLite's fixed-point multiplier and shift with double rounding (TFLite Micro's FULLY_CONNECTED).
pub(crate) struct FixedPoint<'a> {
    pub(crate) multiplier: &'a [i32],
    pub(crate) shift: &'a [i32],
}

impl Rescale for FixedPoint<'_> {
    fn len(&self) -> usize {
        debug_assert_eq!(self.multiplier.len(), self.shift.len());
        self.multiplier.len()
    }

    #[inline(always)]
    fn rescale(&self, acc: i32, oc: usize) -> i32 {
        let i = if self.multiplier.len() == 1 { 0 } else { oc };
        multiply_by_quantized_multiplier(acc, self.multiplier[i], self.shift[i])
    }
}

fn check<R: Rescale>(
    rescale: &R,
    accum_depth: usize,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    output: &[i8],
) -> (usize, usize) {
    debug_assert!(accum_depth > 0);
    let output_depth = filter.len() / accum_depth;
    let batches = input.len() / accum_depth;
    debug_assert_eq!(filter.len(), output_depth * accum_depth);
    debug_assert_eq!(input.len(), batches * accum_depth);
    debug_assert_eq!(output.len(), batches * output_depth);
    debug_assert!(rescale.len() == 1 || rescale.len() == output_depth);
    if let Some(b) = bias {
        debug_assert_eq!(b.len(), output_depth);
    }
    let _ = (rescale, bias, output);
    (batches, output_depth)
}

#[inline(always)]
fn finish<R: Rescale>(acc: i32, oc: usize, rescale: &R, params: &FullyConnectedParams) -> i8 {
    let acc = rescale.rescale(acc, oc).wrapping_add(params.output_offset);
    acc.max(params.activation_min).min(params.activation_max) as i8
}

/// Reference int8 fully connected: `input` is `[batches, accum_depth]`, `filter` is
/// `[output_depth, accum_depth]`, `output` is `[batches, output_depth]`;
/// `output_multiplier`/`output_shift` have 1 entry (per-tensor) or `output_depth` (per-channel).
pub fn fully_connected(
    params: &FullyConnectedParams,
    output_multiplier: &[i32],
    output_shift: &[i32],
    accum_depth: usize,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    output: &mut [i8],
) {
    let rescale = FixedPoint {
        multiplier: output_multiplier,
        shift: output_shift,
    };
    reference(params, &rescale, accum_depth, input, filter, bias, output);
}

/// Fast int8 fully connected (SSE2 on x86_64, else vectorizable dot products), bit-exact with [`fully_connected`].
pub fn fully_connected_fast(
    params: &FullyConnectedParams,
    output_multiplier: &[i32],
    output_shift: &[i32],
    accum_depth: usize,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    output: &mut [i8],
) {
    let rescale = FixedPoint {
        multiplier: output_multiplier,
        shift: output_shift,
    };
    fast(params, &rescale, accum_depth, input, filter, bias, output);
}

/// The reference loop with any rescale rule.
pub(crate) fn reference<R: Rescale>(
    params: &FullyConnectedParams,
    rescale: &R,
    accum_depth: usize,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    output: &mut [i8],
) {
    let (batches, output_depth) = check(rescale, accum_depth, input, filter, bias, output);
    for b in 0..batches {
        for oc in 0..output_depth {
            let mut acc: i32 = 0;
            for d in 0..accum_depth {
                let x = i32::from(input[b * accum_depth + d]);
                let w = i32::from(filter[oc * accum_depth + d]);
                // |(w + w_off) * (x + x_off)| <= 255 * 255.
                acc = acc.wrapping_add((w + params.weights_offset) * (x + params.input_offset));
            }
            if let Some(bias) = bias {
                acc = acc.wrapping_add(bias[oc]);
            }
            output[b * output_depth + oc] = finish(acc, oc, rescale, params);
        }
    }
}

/// The fast loops with any rescale rule, bit-exact with [`reference`].
pub(crate) fn fast<R: Rescale>(
    params: &FullyConnectedParams,
    rescale: &R,
    accum_depth: usize,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    output: &mut [i8],
) {
    let (batches, output_depth) = check(rescale, accum_depth, input, filter, bias, output);
    let (x_off, w_off) = (params.input_offset, params.weights_offset);
    #[cfg(target_arch = "x86_64")]
    if (-32_000..=32_000).contains(&x_off)
        && (-32_000..=32_000).contains(&w_off)
        && crate::avx2::available()
    {
        use crate::avx2::{dot_rows_offset, FC_ROWS};
        // The reference's products, 8 rows at a time on 16 i16 lanes (exact).
        for b in 0..batches {
            let x = &input[b * accum_depth..(b + 1) * accum_depth];
            for oc0 in (0..output_depth).step_by(FC_ROWS) {
                let rows: [&[i8]; FC_ROWS] = core::array::from_fn(|i| {
                    let oc = (oc0 + i).min(output_depth - 1);
                    &filter[oc * accum_depth..(oc + 1) * accum_depth]
                });
                // SAFETY: AVX2 is available (checked above).
                let acc = unsafe { dot_rows_offset(rows, x, w_off as i16, x_off as i16) };
                for (i, &a) in acc.iter().enumerate().take(output_depth - oc0) {
                    let oc = oc0 + i;
                    let a = a.wrapping_add(bias.map_or(0, |bias| bias[oc]));
                    output[b * output_depth + oc] = finish(a, oc, rescale, params);
                }
            }
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if (-32_000..=32_000).contains(&x_off) && (-32_000..=32_000).contains(&w_off) {
        // The reference's products, 4 rows at a time on i16 lanes (exact).
        for b in 0..batches {
            let x = &input[b * accum_depth..(b + 1) * accum_depth];
            for oc0 in (0..output_depth).step_by(4) {
                let rows = [0, 1, 2, 3].map(|i| {
                    let oc = (oc0 + i).min(output_depth - 1);
                    &filter[oc * accum_depth..(oc + 1) * accum_depth]
                });
                let mut acc = [0i32; 4];
                let v = crate::simd::dot4_offset(rows, x, w_off as i16, x_off as i16);
                // SAFETY: stores 16 bytes into a 4-i32 array.
                unsafe {
                    core::arch::x86_64::_mm_storeu_si128(acc.as_mut_ptr() as *mut _, v);
                }
                for (i, &a) in acc.iter().enumerate().take(output_depth - oc0) {
                    let oc = oc0 + i;
                    let a = a.wrapping_add(bias.map_or(0, |bias| bias[oc]));
                    output[b * output_depth + oc] = finish(a, oc, rescale, params);
                }
            }
        }
        return;
    }
    // sum (w + w_off)(x + x_off)
    //   = dot(w, x) + x_off * sum(w) + w_off * sum(x) + K * w_off * x_off,
    // an identity in wrapping i32 arithmetic, so it matches the reference exactly.
    let k_term = (accum_depth as i32).wrapping_mul(w_off).wrapping_mul(x_off);
    for b in 0..batches {
        let x = &input[b * accum_depth..(b + 1) * accum_depth];
        let x_term = w_off.wrapping_mul(sum_i8(x)).wrapping_add(k_term);
        for oc in 0..output_depth {
            let w = &filter[oc * accum_depth..(oc + 1) * accum_depth];
            let mut acc = dot_i8(x, w)
                .wrapping_add(x_off.wrapping_mul(sum_i8(w)))
                .wrapping_add(x_term);
            if let Some(bias) = bias {
                acc = acc.wrapping_add(bias[oc]);
            }
            output[b * output_depth + oc] = finish(acc, oc, rescale, params);
        }
    }
}
