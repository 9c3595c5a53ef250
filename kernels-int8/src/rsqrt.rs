//! RSQRT, int8 and f32 (TFLite's `elementwise.cc` `RsqrtEvalQuantizedInt8`).
//!
//! Int8: for `v = q - zp_in > 0`, `1 / sqrt(v)` is computed in fixed point by
//! TFLite's `GetInvSqrtQuantizedMultiplierExp` (a Newton-Raphson iteration in
//! Q3.28 after normalizing `v` by powers of 4) as a multiplier and shift, applied
//! to 1 with 20 extra bits, then rescaled by `1 / (sqrt(s_in) * s_out)` to the
//! output. `v = 0` maps to 127.

use crate::requant::{
    multiply_by_quantized_multiplier, quantize_multiplier, saturating_rounding_doubling_high_mul,
};

/// Extra left shift keeping the intermediate inverse square root an integer.
const SHIFT: i32 = 20;

/// `sqrt(x)` of a non-negative f32, correctly rounded (what `sqrtf` returns).
pub fn sqrt_f32(x: f32) -> f32 {
    if x == 0.0 || x == f32::INFINITY {
        return x;
    }
    if x.is_nan() || x < 0.0 {
        return f32::NAN;
    }
    let x = f64::from(x);
    // Start from halving the exponent, then Newton's iteration (quadratic convergence).
    let mut y = f64::from_bits((x.to_bits() >> 1) + (1023u64 << 51));
    for _ in 0..8 {
        y = 0.5 * (y + x / y);
    }
    y as f32
}

/// Multiplier and shift of `1 / (sqrt(s_in) * s_out)` (TFLite's `SetRsqrtOutputMultiplier`).
pub fn prepare(input_scale: f32, output_scale: f32) -> (i32, i32) {
    // sqrtf and the product in float; the reciprocal in double.
    quantize_multiplier(1.0 / f64::from(sqrt_f32(input_scale) * output_scale))
}

/// gemmlowp `SaturatingRoundingMultiplyByPOT` for a positive exponent: `x * 2^e`, saturating.
fn saturating_shl(x: i32, e: i32) -> i32 {
    let threshold = (1i32 << (31 - e)) - 1;
    if x > threshold {
        i32::MAX
    } else if x < -threshold {
        i32::MIN
    } else {
        x << e
    }
}

/// `1 / sqrt(input)` as a Q31 multiplier and a left shift (TFLite's `GetInvSqrtQuantizedMultiplierExp`, reverse shift -1).
pub fn inv_sqrt_multiplier(mut input: i32) -> (i32, i32) {
    if input <= 1 {
        return (i32::MAX, 0);
    }
    let mut shift = 11;
    while input >= (1 << 29) {
        input /= 4;
        shift += 1;
    }
    let max_left_shift_bits = (input as u32).leading_zeros() as i32 - 1;
    let left_shift_bit_pairs = max_left_shift_bits / 2 - 1;
    shift -= left_shift_bit_pairs;
    input <<= 2 * left_shift_bit_pairs;
    // Q3.28 arithmetic: a product of two Q3 values is Q6 (raw SRDHM), rescaled
    // back to Q3 by a saturating left shift of 3.
    let mul = saturating_rounding_doubling_high_mul;
    let fixedpoint_input = input >> 1;
    let half_input = crate::requant::rounding_divide_by_pot(fixedpoint_input, 1);
    const HALF_THREE: i32 = (1 << 28) + (1 << 27);
    const ONE_Q3: i32 = 1 << 28;
    let mut x = ONE_Q3;
    for _ in 0..5 {
        // x^3 is Q9, rescaled to Q3 by a left shift of 6.
        let x3 = saturating_shl(mul(mul(x, x), x), 6);
        x = saturating_shl(mul(HALF_THREE, x).wrapping_sub(mul(half_input, x3)), 3);
    }
    // sqrt(2) / 2 in Q0.31.
    const HALF_SQRT_2: i32 = 1_518_500_250;
    let mut m = mul(x, HALF_SQRT_2);
    if shift < 0 {
        m <<= -shift;
        shift = 0;
    }
    (m, -shift)
}

/// Int8 RSQRT; `multiplier`/`shift` from [`prepare`]. Inputs below the zero point are invalid (TFLite errors).
pub fn rsqrt(
    multiplier: i32,
    shift: i32,
    input_zero_point: i32,
    output_zero_point: i32,
    input: &[i8],
    output: &mut [i8],
) {
    debug_assert_eq!(input.len(), output.len());
    for (o, &q) in output.iter_mut().zip(input) {
        let value = i32::from(q) - input_zero_point;
        if value == 0 {
            *o = i8::MAX;
            continue;
        }
        let (m, s) = inv_sqrt_multiplier(value);
        let data = multiply_by_quantized_multiplier(1, m, s + SHIFT);
        let out =
            multiply_by_quantized_multiplier(data, multiplier, shift - SHIFT) + output_zero_point;
        *o = out.clamp(-128, 127) as i8;
    }
}

/// Float RSQRT `1 / sqrt(x)`.
pub fn rsqrt_f32(input: &[f32], output: &mut [f32]) {
    debug_assert_eq!(input.len(), output.len());
    for (o, &x) in output.iter_mut().zip(input) {
        *o = 1.0 / sqrt_f32(x);
    }
}
