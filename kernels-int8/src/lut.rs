//! 256-entry int8 look-up tables (TFLite's `PopulateLookupTable` in `activations.cc`), and
//! the float functions they tabulate, written for `no_std`.
//!
//! TFLite's reference int8 LOGISTIC and TANH evaluate a float function once per
//! possible input at prepare time: `q_out = clamp(round(f(s_in * (q - zp_in)) /
//! s_out) + zp_out)`, all in float. The table is indexed by the input byte.
//! The float functions here compute in f64 and round once to f32, which is the
//! correctly rounded value that libm's `expf` / `tanhf` return in practice;
//! [`populate`] also takes any other `fn(f32) -> f32` (e.g. std's on the host).

/// Builds the table `q_out[q as u8] = clamp(round(f(s_in * (q - zp_in)) * (1 / s_out)) + zp_out)`.
pub fn populate(
    input_scale: f32,
    input_zero_point: i32,
    output_scale: f32,
    output_zero_point: i32,
    f: impl Fn(f32) -> f32,
) -> [i8; 256] {
    let inverse_scale = 1.0 / output_scale;
    let mut table = [0i8; 256];
    for q in -128i32..=127 {
        let dequantized = input_scale * (q - input_zero_point) as f32;
        let rescaled = crate::requant::round_f32(f(dequantized) * inverse_scale);
        // float + int in float, then truncation toward zero (saturating `as`).
        let quantized = (rescaled + output_zero_point as f32) as i32;
        table[(q as i8) as u8 as usize] = quantized.clamp(-128, 127) as i8;
    }
    table
}

/// Applies a table from [`populate`] to every input byte.
pub fn lookup(table: &[i8; 256], input: &[i8], output: &mut [i8]) {
    debug_assert_eq!(input.len(), output.len());
    for (o, &x) in output.iter_mut().zip(input) {
        *o = table[x as u8 as usize];
    }
}

/// `ln 2` split into a high part exact in a few bits and the remainder (fdlibm's constants).
const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);

/// `e^x` in f64 to within a few ulps (range reduction by `ln 2`, then a Taylor series).
pub fn exp_f64(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x > 709.78 {
        return f64::INFINITY;
    }
    if x < -745.2 {
        return 0.0;
    }
    // x = k ln2 + r with |r| <= ln2 / 2.
    let kf = x * core::f64::consts::LOG2_E;
    let k = if kf >= 0.0 {
        (kf + 0.5) as i64
    } else {
        (kf - 0.5) as i64
    };
    let r = (x - k as f64 * LN2_HI) - k as f64 * LN2_LO;
    // Taylor series of e^r: 20 terms reach far below f64 precision for |r| < 0.35.
    let mut term = 1.0f64;
    let mut sum = 1.0f64;
    for n in 1..20 {
        term *= r / n as f64;
        sum += term;
    }
    // Multiply by 2^k in two steps so that neither factor overflows or is subnormal.
    let half = k / 2;
    sum * pow2(half) * pow2(k - half)
}

/// `2^k` for `-1022 <= k <= 1023`.
fn pow2(k: i64) -> f64 {
    f64::from_bits(((k + 1023) as u64) << 52)
}

/// `e^x` rounded to f32 (what `expf` returns).
pub fn exp_f32(x: f32) -> f32 {
    exp_f64(f64::from(x)) as f32
}

/// `tanh x` rounded to f32 (what `tanhf` returns).
pub fn tanh_f32(x: f32) -> f32 {
    let a = f64::from(x).abs();
    // 1 - 2 / (e^(2a) + 1): absolute error ~1e-16, far below f32 resolution.
    let t = if a > 20.0 {
        1.0
    } else {
        1.0 - 2.0 / (exp_f64(2.0 * a) + 1.0)
    };
    (if x < 0.0 { -t } else { t }) as f32
}

/// The logistic function as TFLite's int8 table computes it: `1 / (1 + expf(-x))` in float.
pub fn sigmoid_f32(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}
