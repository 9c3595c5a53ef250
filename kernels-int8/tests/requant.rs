//! Hand-checked vectors for the fixed-point helpers.

use kernels_int8::requant::*;
use kernels_int8::Activation;

#[test]
fn quantize_multiplier_vectors() {
    // 0.5 = 0.5 * 2^0 -> q = 2^30, shift 0.
    assert_eq!(quantize_multiplier(0.5), (1 << 30, 0));
    // 1.0 = 0.5 * 2^1.
    assert_eq!(quantize_multiplier(1.0), (1 << 30, 1));
    // 0.75 * 2^31 = 1610612736 exactly.
    assert_eq!(quantize_multiplier(0.75), (1_610_612_736, 0));
    // 0.25 = 0.5 * 2^-1.
    assert_eq!(quantize_multiplier(0.25), (1 << 30, -1));
    // 3.0 = 0.75 * 2^2.
    assert_eq!(quantize_multiplier(3.0), (1_610_612_736, 2));
    // 1 - 2^-40: q * 2^31 rounds up to 2^31, so it becomes 2^30 with shift + 1.
    assert_eq!(quantize_multiplier(1.0 - 2f64.powi(-40)), (1 << 30, 1));
    // 0.1 = 0.8 * 2^-3; 0.8 * 2^31 = 1717986918.4 -> 1717986918.
    assert_eq!(quantize_multiplier(0.1), (1_717_986_918, -3));
    // 2^-31 = 0.5 * 2^-30: shift -30 is kept.
    assert_eq!(quantize_multiplier(2f64.powi(-31)), (1 << 30, -30));
    // 2^-40 = 0.5 * 2^-39: shift < -31 flushes to zero.
    assert_eq!(quantize_multiplier(2f64.powi(-40)), (0, 0));
    // A subnormal flushes to zero too.
    assert_eq!(quantize_multiplier(1e-310), (0, 0));
    // Zero.
    assert_eq!(quantize_multiplier(0.0), (0, 0));
    // Negative: -0.5 = -0.5 * 2^0.
    assert_eq!(quantize_multiplier(-0.5), (-(1 << 30), 0));
    // 0.5 + 2^-33: 2^30 + 0.25 rounds to 2^30.
    assert_eq!(quantize_multiplier(0.5 + 2f64.powi(-33)), (1 << 30, 0));
    // 0.5 + 2^-32: 2^30 + 0.5 is a tie, rounded away from zero.
    assert_eq!(
        quantize_multiplier(0.5 + 2f64.powi(-32)),
        ((1 << 30) + 1, 0)
    );
}

#[test]
fn quantize_multiplier_range_variants() {
    // 0.3 = 0.6 * 2^-1; 0.6 * 2^31 = 1288490188.8 -> 1288490189.
    assert_eq!(
        quantize_multiplier_smaller_than_one_exp(0.3),
        (1_288_490_189, -1)
    );
    // 5.0 = 0.625 * 2^3; 0.625 * 2^31 = 1342177280.
    assert_eq!(
        quantize_multiplier_greater_than_one(5.0),
        (1_342_177_280, 3)
    );
}

#[test]
fn saturating_rounding_doubling_high_mul_vectors() {
    // 2^30 * 2^30 / 2^31 = 2^29.
    assert_eq!(
        saturating_rounding_doubling_high_mul(1 << 30, 1 << 30),
        1 << 29
    );
    // 3 * 0.5 = 1.5 rounds up to 2.
    assert_eq!(saturating_rounding_doubling_high_mul(3, 1 << 30), 2);
    // -3 * 0.5 = -1.5: gemmlowp's nudge 1 - 2^30 then truncation gives -1.
    assert_eq!(saturating_rounding_doubling_high_mul(-3, 1 << 30), -1);
    // -5 * 0.5 = -2.5 gives -2 the same way.
    assert_eq!(saturating_rounding_doubling_high_mul(-5, 1 << 30), -2);
    // -7 * 0.25 = -1.75 rounds to -2.
    assert_eq!(saturating_rounding_doubling_high_mul(-7, 1 << 29), -2);
    // MIN * MIN is the one overflow: saturates to MAX.
    assert_eq!(
        saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
        i32::MAX
    );
    // MIN * MAX = -(2^31 - 1) after rounding.
    assert_eq!(
        saturating_rounding_doubling_high_mul(i32::MIN, i32::MAX),
        -i32::MAX
    );
}

#[test]
fn rounding_divide_by_pot_vectors() {
    // 5 / 2 = 2.5 -> 3 (away from zero).
    assert_eq!(rounding_divide_by_pot(5, 1), 3);
    // -5 / 2 = -2.5 -> -3 (away from zero).
    assert_eq!(rounding_divide_by_pot(-5, 1), -3);
    // 7 / 4 = 1.75 -> 2.
    assert_eq!(rounding_divide_by_pot(7, 2), 2);
    // -7 / 4 = -1.75 -> -2.
    assert_eq!(rounding_divide_by_pot(-7, 2), -2);
    // 6 / 4 = 1.5 -> 2.
    assert_eq!(rounding_divide_by_pot(6, 2), 2);
    // -6 / 4 = -1.5 -> -2.
    assert_eq!(rounding_divide_by_pot(-6, 2), -2);
    // -5 / 4 = -1.25 -> -1.
    assert_eq!(rounding_divide_by_pot(-5, 2), -1);
    // Exponent 0 is the identity.
    assert_eq!(rounding_divide_by_pot(-123, 0), -123);
    // MAX / 2^31 = 0.99999... -> 1.
    assert_eq!(rounding_divide_by_pot(i32::MAX, 31), 1);
    // MIN / 2^31 = -1 exactly.
    assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
}

#[test]
fn multiply_by_quantized_multiplier_vectors() {
    // 100 * 0.5 * 2^-1 = 25.
    assert_eq!(multiply_by_quantized_multiplier(100, 1 << 30, -1), 25);
    // 3 * 0.5 = 1.5 -> 2.
    assert_eq!(multiply_by_quantized_multiplier(3, 1 << 30, 0), 2);
    // -3 * 0.5 = -1.5 -> -1 (the high-mul tie rounds toward +inf for negatives).
    assert_eq!(multiply_by_quantized_multiplier(-3, 1 << 30, 0), -1);
    // 5 * 0.25 = 1.25: double rounding gives 2 (2.5 -> 3, then 1.5 -> 2); single rounding would give 1.
    assert_eq!(multiply_by_quantized_multiplier(5, 1 << 30, -1), 2);
    // 10 * 2^2 * 0.5 = 20 (positive shift applied before the high mul).
    assert_eq!(multiply_by_quantized_multiplier(10, 1 << 30, 2), 20);
    // x * (2^30 * 2^1 / 2^31) = x: the identity multiplier.
    assert_eq!(multiply_by_quantized_multiplier(-77, 1 << 30, 1), -77);
    // 1000 * 0.75 * 2^-3 = 93.75 -> 94.
    assert_eq!(
        multiply_by_quantized_multiplier(1000, 1_610_612_736, -3),
        94
    );
    // -1000 * 0.75 * 2^-3 = -93.75 -> -94.
    assert_eq!(
        multiply_by_quantized_multiplier(-1000, 1_610_612_736, -3),
        -94
    );
    // Smaller-than-one variant: 1000 * 0.5 * 2^-2 = 125.
    assert_eq!(
        multiply_by_quantized_multiplier_smaller_than_one_exp(1000, 1 << 30, -2),
        125
    );
    // Greater-than-one variant: 3 * 2^4 * 0.5 = 24.
    assert_eq!(
        multiply_by_quantized_multiplier_greater_than_one(3, 1 << 30, 4),
        24
    );
}

#[test]
fn round_f32_vectors() {
    // Ties go away from zero.
    assert_eq!(round_f32(2.5), 3.0);
    // Negative ties too.
    assert_eq!(round_f32(-2.5), -3.0);
    // Just below a half rounds down.
    assert_eq!(round_f32(0.499_999_97), 0.0);
    // Large values are already integers.
    assert_eq!(round_f32(1e10), 1e10);
    // -0.4 rounds to (negative) zero.
    assert_eq!(round_f32(-0.4), 0.0);
}

#[test]
fn activation_range_vectors() {
    // None: the whole int8 range.
    assert_eq!(activation_range(Activation::None, 0.1, 5), (-128, 127));
    // Relu, zero point -128: 0.0 quantizes to -128.
    assert_eq!(activation_range(Activation::Relu, 0.1, -128), (-128, 127));
    // Relu, zero point 10: lower bound 10.
    assert_eq!(activation_range(Activation::Relu, 0.1, 10), (10, 127));
    // Relu6, scale 0.05, zp -128: 6 / 0.05 = 120 -> upper bound -8.
    assert_eq!(activation_range(Activation::Relu6, 0.05, -128), (-128, -8));
    // Relu6, scale 0.1, zp 0: upper bound 60.
    assert_eq!(activation_range(Activation::Relu6, 0.1, 0), (0, 60));
    // ReluN1To1, scale 1/128, zp 0: -1 -> -128, 1 -> 128 clamped to 127.
    assert_eq!(
        activation_range(Activation::ReluN1To1, 1.0 / 128.0, 0),
        (-128, 127)
    );
    // ReluN1To1, scale 0.01, zp 3: -100 + 3, 100 + 3.
    assert_eq!(activation_range(Activation::ReluN1To1, 0.01, 3), (-97, 103));
}

#[test]
fn conv_and_fc_multipliers() {
    let mut m = [0; 2];
    let mut s = [0; 2];
    // 0.5 * [0.25, 0.5] / 0.125 = [1.0, 2.0] -> (2^30, 1), (2^30, 2).
    conv_multipliers(0.5, &[0.25, 0.5], 0.125, &mut m, &mut s);
    assert_eq!((m, s), ([1 << 30, 1 << 30], [1, 2]));
    // One filter scale broadcasts: 0.5 * 0.25 / 0.5 = 0.25 -> (2^30, -1) twice.
    conv_multipliers(0.5, &[0.25], 0.5, &mut m, &mut s);
    assert_eq!((m, s), ([1 << 30, 1 << 30], [-1, -1]));
    // FC per-tensor: 0.5 * 0.25 / 0.125 = 1.0.
    assert_eq!(fc_multiplier(0.5, 0.25, 0.125), (1 << 30, 1));
}

#[test]
fn fc_multiplier_rounds_the_scale_product_in_f32() {
    // TFLite multiplies the two float scales in float before widening: the
    // f32 product of these two differs from the f64 product, and so does the multiplier.
    let (a, b, out) = (0.012_345_679_f32, 0.003_921_568_6_f32, 0.043_137_256_f32);
    let f32_product = f64::from(a * b) / f64::from(out);
    let f64_product = f64::from(a) * f64::from(b) / f64::from(out);
    assert_ne!(f32_product, f64_product);
    assert_eq!(fc_multiplier(a, b, out), quantize_multiplier(f32_product));
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul` as its C source states it:
/// a sign-dependent nudge, then division truncating toward zero.
fn gemmlowp_srdhm(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = i64::from(a) * i64::from(b);
    let nudge = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    ((ab + nudge) / (1i64 << 31)) as i32
}

#[test]
fn saturating_rounding_doubling_high_mul_matches_gemmlowp_statement() {
    // Ties on both sides of zero, the extremes, and 200k pseudo-random pairs.
    let mut cases = vec![
        (3, 1 << 30),
        (-3, 1 << 30),
        (1, 1 << 30),
        (-1, 1 << 30),
        (i32::MIN, i32::MIN),
        (i32::MIN, i32::MAX),
        (i32::MAX, i32::MAX),
        (i32::MIN, 1),
        (0, i32::MIN),
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..200_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let (a, b) = (state as i32, (state >> 32) as i32);
        // Small magnitudes as well, where the rounding ties live.
        cases.push((a, b));
        cases.push((a >> 20, b));
    }
    for (a, b) in cases {
        assert_eq!(
            saturating_rounding_doubling_high_mul(a, b),
            gemmlowp_srdhm(a, b),
            "a = {a}, b = {b}"
        );
    }
}

#[test]
fn requantizer_matches_the_stepwise_requantization() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..100_000 {
        let r = next();
        // Real multipliers from 2^-30 to 2^4, as convolutions and adds produce them.
        let real = 2f64.powf(-30.0 + 34.0 * (r % 1_000_000) as f64 / 1e6);
        let (multiplier, shift) = quantize_multiplier(real);
        let acc = (next() as i32) >> (next() % 24);
        let offset = (next() % 256) as i32 - 128;
        let (lo, hi) = (-128 + (next() % 64) as i32, 127 - (next() % 64) as i32);
        let want = multiply_by_quantized_multiplier(acc, multiplier, shift)
            .wrapping_add(offset)
            .clamp(lo, hi) as i8;
        let got = Requantizer::new(multiplier, shift, offset, lo, hi).apply(acc);
        assert_eq!(
            got, want,
            "acc {acc} real {real} offset {offset} [{lo}, {hi}]"
        );
    }
}

#[test]
fn bounded_requantizer_matches_the_stepwise_requantization() {
    let mut state = 0x6a09_e667_f3bc_c909u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut checked = 0;
    for i in 0..400_000 {
        let r = next();
        // Real multipliers from 2^-32 to 2^6, and bounds from 1 to 2^31.
        let real = 2f64.powf(-32.0 + 38.0 * (r % 1_000_000) as f64 / 1e6);
        let (multiplier, shift) = quantize_multiplier(real);
        let bound = 1u64 << (next() % 32);
        let acc = match i % 4 {
            // The bound itself, and ties of the final shift (odd multiples of 2^(r-1)).
            0 => bound.min(i32::MAX as u64) as i32,
            1 => -(bound.min(i32::MAX as u64) as i32),
            _ => ((next() % (2 * bound + 1)) as i64 - bound as i64) as i32,
        };
        let offset = (next() % 256) as i32 - 128;
        let (lo, hi) = if i % 3 == 0 {
            (-128, 127)
        } else {
            (-128 + (next() % 64) as i32, 127 - (next() % 64) as i32)
        };
        let Some(q) = BoundedRequantizer::new(multiplier, shift, offset, lo, hi, bound) else {
            continue;
        };
        checked += 1;
        let want = multiply_by_quantized_multiplier(acc, multiplier, shift)
            .wrapping_add(offset)
            .clamp(lo, hi) as i8;
        assert_eq!(
            q.apply(acc),
            want,
            "acc {acc} real {real} bound {bound} offset {offset} [{lo}, {hi}]"
        );
        if q.is_full_range() {
            assert_eq!(q.apply_full_range(acc), want, "acc {acc} real {real}");
        }
    }
    // Most cases are inside the short formula's range (the test is not vacuous).
    assert!(checked > 200_000, "only {checked} cases checked");
}

#[test]
fn bounded_requantizer_ties_round_away_from_zero() {
    // real 2^-4: multiplier 2^30, shift -3, i.e. round(acc / 2), then round(/ 8).
    let (m, s) = quantize_multiplier(1.0 / 16.0);
    let q = BoundedRequantizer::new(m, s, 0, -128, 127, 1000).unwrap();
    let cases = [
        (8, 1),   // 4 / 8: a tie, up
        (-8, -1), // -4 / 8: a tie, down
        (24, 2),  // 12 / 8
        (-24, -2),
        (7, 1),   // double rounding: 7 / 2 -> 4 (tie, up), 4 / 8 -> 1 (tie, up)
        (-7, 0),  // -7 / 2 -> -3 (gemmlowp's nudge), -3 / 8 -> 0
        (9, 1),   // 9 / 2 -> 5, 5 / 8 -> 1
        (-9, -1), // -9 / 2 -> -4, -4 / 8 -> -1 (tie, down)
    ];
    for (acc, want) in cases {
        assert_eq!(q.apply(acc), want, "acc {acc}");
        assert_eq!(multiply_by_quantized_multiplier(acc, m, s), i32::from(want));
    }
}
