//! HARD_SWISH, int8 and f32 (TFLite's `reference_ops::HardSwish`, 16-bit fixed point).
//!
//! `hard_swish(x) = x * relu6(x + 3) / 6`. Int8: `x - zp_in` is moved to a
//! "high-resolution" Q scale (times 2^7), rescaled once to the output scale
//! (before its final shift), and once to a "relu-ish" value where real 3.0 is
//! 2^15 (saturating), which is mapped from [-1, 1] to [0, 1] and multiplied in.
//! All products are 16-bit fixed point (`SaturatingRoundingDoublingHighMul` on
//! i16, and the truncating `SaturatingDoublingHighMul` for the last one).

use crate::requant::quantize_multiplier;

/// Integer parameters of an int8 HARD_SWISH (TFLite's `HardSwishParams`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HardSwishParams {
    /// The input zero point.
    pub input_zero_point: i32,
    /// The output zero point.
    pub output_zero_point: i32,
    /// Q15 multiplier from the high-resolution input scale to the relu-ish scale.
    pub reluish_multiplier_fixedpoint_int16: i16,
    /// Exponent going with the relu-ish multiplier.
    pub reluish_multiplier_exponent: i32,
    /// Q15 multiplier from the high-resolution input scale to the output scale.
    pub output_multiplier_fixedpoint_int16: i16,
    /// Exponent (`<= 0`) going with the output multiplier.
    pub output_multiplier_exponent: i32,
}

/// Rounds a Q31 multiplier to Q15, saturating (TFLite's `DownScaleInt32ToInt16Multiplier`).
fn down_scale_int32_to_int16(m: i32) -> i16 {
    const ROUNDING_OFFSET: i32 = 1 << 15;
    if m >= i32::MAX - ROUNDING_OFFSET {
        return i16::MAX;
    }
    ((m + ROUNDING_OFFSET) >> 16) as i16
}

/// Computes [`HardSwishParams`] (TFLite's `HardSwishPrepare`); `None` if the output multiplier is above 1.
pub fn prepare(
    input_scale: f32,
    input_zero_point: i32,
    output_scale: f32,
    output_zero_point: i32,
) -> Option<HardSwishParams> {
    // All in float as TFLite, widened only for QuantizeMultiplier.
    let hires_input_scale = (1.0f32 / 128.0) * input_scale;
    let reluish_scale = 3.0f32 / 32768.0;
    let (om, oe) = quantize_multiplier(f64::from(hires_input_scale / output_scale));
    let (rm, re) = quantize_multiplier(f64::from(hires_input_scale / reluish_scale));
    if oe > 0 {
        return None;
    }
    Some(HardSwishParams {
        input_zero_point,
        output_zero_point,
        reluish_multiplier_fixedpoint_int16: down_scale_int32_to_int16(rm),
        reluish_multiplier_exponent: re,
        output_multiplier_fixedpoint_int16: down_scale_int32_to_int16(om),
        output_multiplier_exponent: oe,
    })
}

/// gemmlowp `SaturatingRoundingDoublingHighMul` on i16 (ties away from zero).
fn srdhm16(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    let ab = i32::from(a) * i32::from(b);
    let nudge = if ab >= 0 { 1 << 14 } else { 1 - (1 << 14) };
    ((ab + nudge) / (1 << 15)) as i16
}

/// `a * b / 2^15` truncated toward zero, saturating `MIN * MIN` (TFLite's `SaturatingDoublingHighMul`).
fn sdhm16(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    ((i32::from(a) * i32::from(b)) / (1 << 15)) as i16
}

/// gemmlowp `RoundingDivideByPOT` on i16.
fn rdbpot16(x: i16, exponent: i32) -> i16 {
    let mask = ((1i32 << exponent) - 1) as i16;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i16::from(x < 0);
    (x >> exponent) + i16::from(remainder > threshold)
}

/// `value * 2^amount` saturated to i16 (TFLite's `SaturatingLeftShift`).
fn saturating_left_shift16(value: i16, amount: i32) -> i16 {
    (i64::from(value) * (1i64 << amount)).clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16
}

/// Int8 HARD_SWISH over `input`.
pub fn hard_swish(p: &HardSwishParams, input: &[i8], output: &mut [i8]) {
    debug_assert_eq!(input.len(), output.len());
    for (o, &x) in output.iter_mut().zip(input) {
        // |x - zp| <= 255, times 2^7 <= 32640: fits i16 (TFLite narrows to i16 here).
        let input_value = (i32::from(x) - p.input_zero_point) as i16;
        let hires = input_value.wrapping_mul(1 << 7);
        let preshift_output = srdhm16(hires, p.output_multiplier_fixedpoint_int16);
        let mut reluish = hires;
        if p.reluish_multiplier_exponent > 0 {
            reluish = saturating_left_shift16(reluish, p.reluish_multiplier_exponent - 1);
        }
        reluish = srdhm16(reluish, p.reluish_multiplier_fixedpoint_int16);
        if p.reluish_multiplier_exponent > 0 {
            reluish = saturating_left_shift16(reluish, 1);
        }
        if p.reluish_multiplier_exponent < 0 {
            reluish = rdbpot16(reluish, -p.reluish_multiplier_exponent);
        }
        // [-1, 1] -> [0, 1] in Q15 (computed in i32, narrowed).
        let reluish = ((i32::from(reluish) + (1 << 15)) >> 1) as i16;
        let preshift = sdhm16(reluish, preshift_output);
        let out = rdbpot16(preshift, -p.output_multiplier_exponent) as i32 + p.output_zero_point;
        *o = out.clamp(-128, 127) as i8;
    }
}

/// Float HARD_SWISH `x * min(6, max(0, x + 3)) / 6`.
pub fn hard_swish_f32(input: &[f32], output: &mut [f32]) {
    debug_assert_eq!(input.len(), output.len());
    for (o, &x) in output.iter_mut().zip(input) {
        *o = x * (x + 3.0).clamp(0.0, 6.0) / 6.0;
    }
}
