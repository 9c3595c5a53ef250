//! FULLY_CONNECTED, int8, as LiteRT's reference kernel rescales it.
//!
//! LiteRT (the TFLite interpreter, `tflite/kernels/internal/reference/integer_ops/fully_connected.h`,
//! the overloads that take float scales) does not use the fixed-point
//! multiplier for FULLY_CONNECTED: it rescales each accumulator in double,
//!
//! ```text
//! out = clamp(round_half_away(acc * (f64(s_in) * f64(s_w[c]) / f64(s_out))) + z_out)
//! ```
//!
//! which differs from [`crate::fully_connected`]'s fixed-point multiply (TFLite
//! Micro's rule) by one on about 0.2% of outputs. Accumulation is the same:
//! `acc = bias[c] + sum (w + w_off) * (x + x_off)` in i32 (see that module for bounds).
//! The double multiply needs an FPU or soft-float on a board.

use crate::fully_connected::{self as fc, FullyConnectedParams, Rescale};

/// The effective output scale of one output channel: `f64(input) * f64(filter) / f64(output)`.
pub fn effective_scale(input_scale: f32, filter_scale: f32, output_scale: f32) -> f64 {
    f64::from(input_scale) * f64::from(filter_scale) / f64::from(output_scale)
}

/// `round(acc * scale)` with C's `round` (half away from zero), saturated to i32 like a
/// well-defined `static_cast<int32_t>`.
#[inline(always)]
pub fn rescale_round(acc: i32, scale: f64) -> i32 {
    let x = f64::from(acc) * scale;
    if x.is_nan() {
        return 0;
    }
    // |x| < 2^52 here in practice; `as` saturates beyond i64 (absurd scales, e.g. 1e30),
    // so the rounding step saturates too instead of overflowing.
    let t = x as i64; // truncation toward zero
    let frac = x - t as f64; // exact for |x| < 2^52
    let r = if frac >= 0.5 {
        t.saturating_add(1)
    } else if frac <= -0.5 {
        t.saturating_sub(1)
    } else {
        t
    };
    r.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// LiteRT's rule: `round(acc * scale[c])` in double.
struct DoubleScale<'a>(&'a [f64]);

impl Rescale for DoubleScale<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }

    #[inline(always)]
    fn rescale(&self, acc: i32, oc: usize) -> i32 {
        rescale_round(
            acc,
            if self.0.len() == 1 {
                self.0[0]
            } else {
                self.0[oc]
            },
        )
    }
}

/// Reference int8 fully connected with LiteRT's double rescale; `scale` has one entry (per tensor) or one per output.
pub fn fully_connected(
    params: &FullyConnectedParams,
    scale: &[f64],
    accum_depth: usize,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    output: &mut [i8],
) {
    fc::reference(
        params,
        &DoubleScale(scale),
        accum_depth,
        input,
        filter,
        bias,
        output,
    );
}

/// Fast int8 fully connected with LiteRT's double rescale, bit-exact with [`fully_connected`].
pub fn fully_connected_fast(
    params: &FullyConnectedParams,
    scale: &[f64],
    accum_depth: usize,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    output: &mut [i8],
) {
    fc::fast(
        params,
        &DoubleScale(scale),
        accum_depth,
        input,
        filter,
        bias,
        output,
    );
}

#[cfg(test)]
mod tests {
    use super::rescale_round;

    /// A mutated model's scale of 1e30 made `acc * scale` exceed i64: the rounding step
    /// overflowed (a panic in debug, i32::MIN for a huge positive value in release).
    #[test]
    fn rescale_round_saturates_huge_products() {
        assert_eq!(rescale_round(1000, 1e30), i32::MAX);
        assert_eq!(rescale_round(-1000, 1e30), i32::MIN);
        assert_eq!(rescale_round(7, f64::INFINITY), i32::MAX);
        assert_eq!(rescale_round(-7, f64::INFINITY), i32::MIN);
        assert_eq!(rescale_round(5, 0.5), 3); // 2.5 rounds half away from zero
        assert_eq!(rescale_round(-5, 0.5), -3);
    }
}
