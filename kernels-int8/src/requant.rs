//! Fixed-point requantization: multipliers, rounding, activation ranges.
//!
//! These follow TFLite's default build (double rounding, not
//! `TFLITE_SINGLE_ROUNDING`): a Q31 multiplier is applied with gemmlowp's
//! `SaturatingRoundingDoublingHighMul`, then the right shift with
//! `RoundingDivideByPOT`.

/// Fused activation function of an op (TFLite's `ActivationFunctionType` minus the unsupported ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// No clamp beyond the output type's range.
    None,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, -1), 1)`.
    ReluN1To1,
    /// `min(max(x, 0), 6)`.
    Relu6,
}

/// `frexp`: `x = q * 2^e` with `0.5 <= |q| < 1` (finite, nonzero `x`).
fn frexp(x: f64) -> (f64, i32) {
    const EXP_MASK: u64 = 0x7ff << 52;
    let bits = x.to_bits();
    let biased = ((bits & EXP_MASK) >> 52) as i32;
    if biased == 0 {
        // Subnormal: scale up by 2^64 (exact) and compensate.
        let (q, e) = frexp(x * f64::from_bits((1023 + 64) << 52));
        return (q, e - 64);
    }
    // Replace the exponent by the one of [0.5, 1): biased 1022.
    let q = f64::from_bits((bits & !EXP_MASK) | (1022 << 52));
    (q, biased - 1022)
}

/// Rounds half away from zero in f64, like C's `round` (finite input).
fn round_f64(x: f64) -> f64 {
    // 2^52: every f64 of this magnitude or more is already an integer.
    if x.is_nan() || x.abs() >= 4_503_599_627_370_496.0 {
        return x;
    }
    let t = x as i64; // truncation toward zero, exact below 2^52
    let frac = x - t as f64; // exact: both share the binade or t is smaller
    let r = if frac >= 0.5 {
        t + 1
    } else if frac <= -0.5 {
        t - 1
    } else {
        t
    };
    r as f64
}

/// Rounds half away from zero in f32, like C's `roundf` (TFLite's `TfLiteRound`).
pub fn round_f32(x: f32) -> f32 {
    // 2^23: every f32 of this magnitude or more (and inf, NaN) is returned as is.
    if x.is_nan() || x.abs() >= 8_388_608.0 {
        return x;
    }
    let t = x as i32; // truncation toward zero, exact below 2^23
    let frac = x - t as f32; // exact (Sterbenz-like: same sign, |t| <= |x|)
    let r = if frac >= 0.5 {
        t + 1
    } else if frac <= -0.5 {
        t - 1
    } else {
        t
    };
    // Keep the sign of zero like roundf (e.g. -0.3 -> -0.0).
    if r == 0 {
        return if x.is_sign_negative() { -0.0 } else { 0.0 };
    }
    r as f32
}

/// Splits `real` into a Q31 multiplier and a power-of-two shift (TFLite's `QuantizeMultiplier`).
///
/// `real ~= multiplier * 2^shift / 2^31`; 0 gives `(0, 0)`, and values below about
/// 2^-32 flush to `(0, 0)` like TFLite.
pub fn quantize_multiplier(real: f64) -> (i32, i32) {
    debug_assert!(
        real.is_finite(),
        "quantize_multiplier: {real} is not finite"
    );
    if real == 0.0 {
        return (0, 0);
    }
    let (q, mut shift) = frexp(real);
    // |q| in [0.5, 1): q * 2^31 is exact and in [2^30, 2^31]; rounding may reach 2^31.
    let mut q_fixed = round_f64(q * 2_147_483_648.0) as i64;
    debug_assert!(q_fixed <= 1 << 31);
    if q_fixed == 1 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        shift = 0;
        q_fixed = 0;
    }
    // Now |q_fixed| <= 2^31 - 1 (positive) or >= -2^31 (negative): fits i32.
    (q_fixed as i32, shift)
}

/// Like [`quantize_multiplier`] for `0 < real < 1`; the shift is `<= 0` (TFLite's `QuantizeMultiplierSmallerThanOneExp`).
pub fn quantize_multiplier_smaller_than_one_exp(real: f64) -> (i32, i32) {
    debug_assert!(real > 0.0 && real < 1.0, "expected 0 < {real} < 1");
    let (m, shift) = quantize_multiplier(real);
    debug_assert!(shift <= 0);
    (m, shift)
}

/// Like [`quantize_multiplier`] for `real > 1`; the shift is `>= 0` (TFLite's `QuantizeMultiplierGreaterThanOne`).
pub fn quantize_multiplier_greater_than_one(real: f64) -> (i32, i32) {
    debug_assert!(real > 1.0, "expected {real} > 1");
    let (m, shift) = quantize_multiplier(real);
    debug_assert!(shift >= 0);
    (m, shift)
}

/// `round(a * b / 2^31)` with ties away from zero, saturating `i32::MIN * i32::MIN` (gemmlowp's `SaturatingRoundingDoublingHighMul`).
#[inline(always)]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    // gemmlowp: (ab + nudge) / 2^31 truncated toward zero, nudge = 2^30 when
    // ab >= 0 and 1 - 2^30 otherwise. Both cases are floor((ab + 2^30) / 2^31):
    // for ab >= 0 truncation is floor; for ab < 0 the sum v = ab + 1 - 2^30 is
    // negative and trunc(v / 2^31) = floor((v + 2^31 - 1) / 2^31). So one add
    // and one arithmetic shift (SMULL, ADDS, ADC and a funnel shift on a
    // Cortex-M), no branch and no 64-bit division. |ab| <= 2^62: fits i64; the
    // quotient fits i32 since only MIN * MIN (handled above) reaches 2^31.
    ((i64::from(a) * i64::from(b) + (1 << 30)) >> 31) as i32
}

/// `x / 2^exponent` rounded to nearest, ties away from zero (gemmlowp's `RoundingDivideByPOT`), `0 <= exponent <= 31`.
#[inline(always)]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    debug_assert!((0..=31).contains(&exponent), "exponent {exponent}");
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    // Ties go away from zero: a negative x needs a remainder above half + 1.
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// `x * multiplier * 2^shift / 2^31` with TFLite's double rounding (`MultiplyByQuantizedMultiplier`).
#[inline(always)]
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left_shift = if shift > 0 { shift } else { 0 };
    let right_shift = if shift > 0 { 0 } else { -shift };
    // TFLite computes `x * (1 << left_shift)` in int32 (overflow is undefined
    // there and wraps in practice); wrap explicitly.
    let shifted = x.wrapping_mul(1i32.wrapping_shl(left_shift as u32));
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(shifted, multiplier),
        right_shift,
    )
}

/// One output channel's requantization to int8 (TFLite's `MultiplyByQuantizedMultiplier`,
/// the zero point, the activation clamp), with its shifts and rounding mask derived once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requantizer {
    multiplier: i32,
    left_shift: u32,
    right_shift: u32,
    mask: i32,
    half: i32,
    output_offset: i32,
    activation_min: i32,
    activation_max: i32,
}

impl Requantizer {
    /// The requantization of a channel with `multiplier` and `shift` (as [`quantize_multiplier`]
    /// gives them: `multiplier` is never `i32::MIN`, so the doubling high multiply cannot saturate).
    #[inline(always)]
    pub fn new(
        multiplier: i32,
        shift: i32,
        output_offset: i32,
        activation_min: i32,
        activation_max: i32,
    ) -> Self {
        let right_shift = if shift > 0 { 0 } else { -shift };
        debug_assert!((0..=31).contains(&right_shift), "shift {shift}");
        debug_assert_ne!(multiplier, i32::MIN);
        let mask = ((1i64 << right_shift) - 1) as i32;
        Requantizer {
            multiplier,
            left_shift: shift.max(0) as u32,
            right_shift: right_shift as u32,
            mask,
            half: mask >> 1,
            output_offset,
            activation_min,
            activation_max,
        }
    }

    /// `acc` requantized, offset and clamped: the same as
    /// [`multiply_by_quantized_multiplier`] followed by the zero point and the clamp.
    #[inline(always)]
    pub fn apply(&self, acc: i32) -> i8 {
        // x * 2^left wraps in int32 as in TFLite; with multiplier != MIN the
        // doubling high multiply is the unsaturated formula.
        let x = acc.wrapping_shl(self.left_shift);
        let x = ((i64::from(x) * i64::from(self.multiplier) + (1 << 30)) >> 31) as i32;
        // rounding_divide_by_pot with the mask and threshold precomputed.
        let q = (x >> self.right_shift) + i32::from((x & self.mask) > self.half + i32::from(x < 0));
        q.wrapping_add(self.output_offset)
            .max(self.activation_min)
            .min(self.activation_max) as i8
    }
}

/// [`Requantizer`] for accumulators of known magnitude: the same results in
/// fewer steps (a rounding high multiply, one add, one shift; `SMMULR` on a
/// Cortex-M with the DSP extension), for cores that requantize every few MACs.
///
/// With `|acc| <= bound` and `bound * 2^(left + 1) + 2^right + |zero point| *
/// 2^(right + 1) < 2^31` (`left`, `right` the left and right shifts), nothing
/// wraps, and:
/// - the doubling high multiply `floor((x m + 2^30) / 2^31)` is
///   `floor((2x m + 2^31) / 2^32)` = `SMMULR(2x, m)`, `x = acc * 2^left`;
/// - gemmlowp's `RoundingDivideByPOT(s, r)` (ties away from zero) is
///   `(2s + 2^r - [s < 0]) >> (r + 1)`: for `s >= 0` round half up of
///   `s / 2^r`; for `s < 0` the numerator `2s + 2^r - 1` is odd, so the floor
///   equals that of `(s + 2^(r-1) - 1) / 2^r`, half down (for `r = 0`: `s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundedRequantizer {
    multiplier: i32,
    pre_shift: u32,
    /// `2^right + output_offset * 2^(right + 1)`: the rounding term and the zero point.
    round: i32,
    post_shift: u32,
    activation_min: i32,
    activation_max: i32,
}

impl BoundedRequantizer {
    /// The requantization of a channel with `multiplier` and `shift` (as
    /// [`quantize_multiplier`] gives them) for accumulators `|acc| <= acc_bound`;
    /// `None` when the bound is too large for the short formula (or the
    /// constants are outside TFLite's range), where [`Requantizer`] applies.
    pub fn new(
        multiplier: i32,
        shift: i32,
        output_offset: i32,
        activation_min: i32,
        activation_max: i32,
        acc_bound: u64,
    ) -> Option<Self> {
        if !(-30..=30).contains(&shift) || multiplier == i32::MIN {
            return None;
        }
        let (left, right) = (shift.max(0) as u32, (-shift).max(0) as u32);
        // |2s| <= |2x| <= bound * 2^(left + 1), plus the rounding term 2^right.
        // The zero point joins the rounding term as a multiple of the divisor
        // 2^(right + 1), which adds it exactly after the shift.
        let reach = (acc_bound as u128) << (left + 1);
        let offset = u128::from(output_offset.unsigned_abs()) << (right + 1);
        if reach + (1u128 << right) + offset >= 1 << 31 {
            return None;
        }
        Some(BoundedRequantizer {
            multiplier,
            pre_shift: left + 1,
            round: ((1i64 << right) + i64::from(output_offset) * (1i64 << (right + 1))) as i32,
            post_shift: right + 1,
            activation_min,
            activation_max,
        })
    }

    /// `acc` (`|acc| <=` the bound given to [`new`](Self::new)) requantized:
    /// the same as [`Requantizer::apply`].
    #[inline(always)]
    pub fn apply(&self, acc: i32) -> i8 {
        self.scaled(acc)
            .max(self.activation_min)
            .min(self.activation_max) as i8
    }

    /// Like [`apply`](Self::apply) when the activation range is the whole
    /// int8 range (no fused clamp): the clamp is one saturation (`SSAT`).
    #[inline(always)]
    pub fn apply_full_range(&self, acc: i32) -> i8 {
        debug_assert!(self.activation_min <= -128 && self.activation_max >= 127);
        self.scaled(acc).clamp(-128, 127) as i8
    }

    /// Whether the activation range is the whole int8 range.
    pub fn is_full_range(&self) -> bool {
        self.activation_min <= -128 && self.activation_max >= 127
    }

    /// `MultiplyByQuantizedMultiplier(acc, multiplier, shift)` plus the zero point, for a bounded `acc`.
    #[inline(always)]
    fn scaled(&self, acc: i32) -> i32 {
        let x2 = acc << self.pre_shift;
        let s = rounding_high_mul(x2, self.multiplier);
        (self.round + (s >> 31) + (s << 1)) >> self.post_shift
    }
}

/// A per-channel int8 output stage, for kernels generic over the requantizers.
#[cfg_attr(
    not(all(target_arch = "arm", feature = "armv7em-dsp")),
    allow(dead_code)
)]
pub(crate) trait OutputStage: Copy {
    /// `acc` requantized, offset and clamped to int8.
    fn output(&self, acc: i32) -> i8;
}

impl OutputStage for Requantizer {
    #[inline(always)]
    fn output(&self, acc: i32) -> i8 {
        self.apply(acc)
    }
}

impl OutputStage for BoundedRequantizer {
    #[inline(always)]
    fn output(&self, acc: i32) -> i8 {
        self.apply(acc)
    }
}

/// A [`BoundedRequantizer`] whose activation range is the whole int8 range.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(
    not(all(target_arch = "arm", feature = "armv7em-dsp")),
    allow(dead_code)
)]
pub(crate) struct FullRange(pub BoundedRequantizer);

impl OutputStage for FullRange {
    #[inline(always)]
    fn output(&self, acc: i32) -> i8 {
        self.0.apply_full_range(acc)
    }
}

/// Largest `|acc|` of a convolution output: `sum |w| * max |x + input_offset| + |bias|`.
#[cfg_attr(
    not(all(target_arch = "arm", feature = "armv7em-dsp")),
    allow(dead_code)
)]
pub(crate) fn acc_bound(weights: impl Iterator<Item = i8>, input_offset: i32, bias: i32) -> u64 {
    let x = (i64::from(input_offset) - 128)
        .unsigned_abs()
        .max((i64::from(input_offset) + 127).unsigned_abs());
    let w: u64 = weights.map(|w| u64::from(w.unsigned_abs())).sum();
    w * x + u64::from(bias.unsigned_abs())
}

/// `floor((a b + 2^31) / 2^32)`: the high word of the product, rounded (`SMMULR`).
#[inline(always)]
fn rounding_high_mul(a: i32, b: i32) -> i32 {
    #[cfg(all(target_arch = "arm", feature = "armv7em-dsp"))]
    {
        crate::arm_dsp::smmulr(a, b)
    }
    #[cfg(not(all(target_arch = "arm", feature = "armv7em-dsp")))]
    {
        ((i64::from(a) * i64::from(b) + (1 << 31)) >> 32) as i32
    }
}

/// TFLite's `MultiplyByQuantizedMultiplierSmallerThanOneExp` (`left_shift <= 0`).
#[inline(always)]
pub fn multiply_by_quantized_multiplier_smaller_than_one_exp(
    x: i32,
    multiplier: i32,
    left_shift: i32,
) -> i32 {
    debug_assert!(left_shift <= 0);
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x, multiplier),
        -left_shift,
    )
}

/// TFLite's `MultiplyByQuantizedMultiplierGreaterThanOne` (`left_shift >= 0`).
#[inline(always)]
pub fn multiply_by_quantized_multiplier_greater_than_one(
    x: i32,
    multiplier: i32,
    left_shift: i32,
) -> i32 {
    debug_assert!((0..=31).contains(&left_shift));
    saturating_rounding_doubling_high_mul(x.wrapping_mul(1i32 << left_shift), multiplier)
}

/// Int8 clamp bounds `(min, max)` of a fused activation (TFLite's `CalculateActivationRangeQuantized`).
pub fn activation_range(
    activation: Activation,
    output_scale: f32,
    output_zero_point: i32,
) -> (i32, i32) {
    const QMIN: i32 = i8::MIN as i32;
    const QMAX: i32 = i8::MAX as i32;
    // TFLite: zero_point + (int32) round(f / scale), the division in float.
    // `as i32` saturates where C++ would be undefined; the sum saturates too.
    let quantize = |f: f32| output_zero_point.saturating_add(round_f32(f / output_scale) as i32);
    match activation {
        Activation::None => (QMIN, QMAX),
        Activation::Relu => (QMIN.max(quantize(0.0)), QMAX),
        Activation::Relu6 => (QMIN.max(quantize(0.0)), QMAX.min(quantize(6.0))),
        Activation::ReluN1To1 => (QMIN.max(quantize(-1.0)), QMAX.min(quantize(1.0))),
    }
}

/// Per-channel output multipliers and shifts of CONV_2D / DEPTHWISE_CONV_2D / per-channel
/// FULLY_CONNECTED (TFLite's `PopulateConvolutionQuantizationParams`); `filter_scales` has one
/// entry (per-tensor, broadcast) or one per output channel; fills `multiplier` and `shift`.
pub fn conv_multipliers(
    input_scale: f32,
    filter_scales: &[f32],
    output_scale: f32,
    multiplier: &mut [i32],
    shift: &mut [i32],
) {
    debug_assert_eq!(multiplier.len(), shift.len());
    debug_assert!(filter_scales.len() == 1 || filter_scales.len() == multiplier.len());
    for (c, (m, s)) in multiplier.iter_mut().zip(shift.iter_mut()).enumerate() {
        let filter_scale = filter_scales[if filter_scales.len() == 1 { 0 } else { c }];
        // TFLite: every factor widened to double first, then (in * f) / out.
        let effective = f64::from(input_scale) * f64::from(filter_scale) / f64::from(output_scale);
        (*m, *s) = quantize_multiplier(effective);
    }
}

/// Per-tensor output multiplier and shift of FULLY_CONNECTED (TFLite's `GetQuantizedConvolutionMultipler` + `QuantizeMultiplier`).
pub fn fc_multiplier(input_scale: f32, filter_scale: f32, output_scale: f32) -> (i32, i32) {
    // TFLite: the product of the two scales in float, widened, then divided in double.
    let input_product_scale = f64::from(input_scale * filter_scale);
    quantize_multiplier(input_product_scale / f64::from(output_scale))
}
