//! The TFLite-Micro audio front end (`audio_microfrontend`), bit-exact.
//!
//! Per frame of int16 audio: a fixed-point Hann window, a 16-bit fixed-point
//! real FFT (KISS FFT's arithmetic, see [`super::kiss_fft_int16`]), energies,
//! a mel filterbank with 12-bit weights, an integer square root, noise
//! reduction (a per-channel running noise estimate is subtracted), optional
//! PCAN gain control, and an integer log; the result is one `u16` per channel.
//! The steps, constants and integer widths follow
//! `tensorflow/lite/experimental/microfrontend/lib` so that the output equals
//! TensorFlow's `audio_microfrontend` op bit for bit (tested against
//! tensorflow-cpu 2.21). Float appears only when building the tables, with
//! the reference's float/double mix reproduced.
//!
//! On x86_64 CPUs with AVX2 (detected at run time) the energies, the
//! filterbank and the per-channel steps run several channels or bins at a
//! time with the same integer arithmetic (hand-written intrinsics);
//! [`MicroFrontend::portable`] turns that off, and the tests compare both
//! paths with TensorFlow.
//!
//! Training in TensorFlow's speech_commands scripts uses the output times
//! 10/256 ([`to_float`]); a device feeds an int8 model with [`to_int8`].

use super::kiss_fft_int16::KissFftR16;
use crate::error::{Error, Result};

/// Fraction bits of the window coefficients (`kFrontendWindowBits`).
const WINDOW_BITS: u32 = 12;
/// Fraction bits of the filterbank weights (`kFilterbankBits`).
const FILTERBANK_BITS: i32 = 12;
/// Fraction bits of the noise-reduction coefficients (`kNoiseReductionBits`).
const NOISE_REDUCTION_BITS: u32 = 14;
/// Fraction bits of PCAN's signal-to-noise ratio (`kPcanSnrBits`).
const PCAN_SNR_BITS: u32 = 12;
/// Fraction bits of PCAN's output (`kPcanOutputBits`).
const PCAN_OUTPUT_BITS: u32 = 6;
/// Intervals of PCAN's piecewise-quadratic gain table (`kWideDynamicFunctionBits`).
const WIDE_DYNAMIC_FUNCTION_BITS: u32 = 32;
/// Entries of PCAN's gain table (`kWideDynamicFunctionLUTSize`).
const WIDE_DYNAMIC_FUNCTION_LUT_SIZE: usize = 4 * WIDE_DYNAMIC_FUNCTION_BITS as usize - 3;
/// `log2` of the log's fixed-point scale (`kLogScaleLog2`).
const LOG_SCALE_LOG2: u32 = 16;
/// The log's fixed-point scale (`kLogScale`).
const LOG_SCALE: u32 = 1 << LOG_SCALE_LOG2;
/// `log2` of the number of log table segments (`kLogSegmentsLog2`).
const LOG_SEGMENTS_LOG2: u32 = 7;
/// `ln(2)` in Q16 (`kLogCoeff`).
const LOG_COEFF: u64 = 45426;
/// Correction from a linear interpolation of `log2(1 + x)` (`kLogLut`), Q16, 129 segments plus padding.
const LOG_LUT: [u16; 130] = [
    0, 224, 442, 654, 861, 1063, 1259, 1450, 1636, 1817, 1992, 2163, 2329, 2490, 2646, 2797, 2944,
    3087, 3224, 3358, 3487, 3611, 3732, 3848, 3960, 4068, 4172, 4272, 4368, 4460, 4549, 4633, 4714,
    4791, 4864, 4934, 5001, 5063, 5123, 5178, 5231, 5280, 5326, 5368, 5408, 5444, 5477, 5507, 5533,
    5557, 5578, 5595, 5610, 5622, 5631, 5637, 5640, 5641, 5638, 5633, 5626, 5615, 5602, 5586, 5568,
    5547, 5524, 5498, 5470, 5439, 5406, 5370, 5332, 5291, 5249, 5203, 5156, 5106, 5054, 5000, 4944,
    4885, 4825, 4762, 4697, 4630, 4561, 4490, 4416, 4341, 4264, 4184, 4103, 4020, 3935, 3848, 3759,
    3668, 3575, 3481, 3384, 3286, 3186, 3084, 2981, 2875, 2768, 2659, 2549, 2437, 2323, 2207, 2090,
    1971, 1851, 1729, 1605, 1480, 1353, 1224, 1094, 963, 830, 695, 559, 421, 282, 142, 0, 0,
];

/// `LOG_LUT[i]` and `LOG_LUT[i + 1]` in the low and high 32 bits, for one AVX2 gather per lane.
static LOG_PAIRS: [i64; 129] = {
    let mut pairs = [0i64; 129];
    let mut i = 0;
    while i < 129 {
        pairs[i] = LOG_LUT[i] as i64 | (LOG_LUT[i + 1] as i64) << 32;
        i += 1;
    }
    pairs
};

/// Scale from the front end's `u16` output to the float features TensorFlow's training uses (10/256).
pub const FLOAT_SCALE: f32 = 10.0 / 256.0;

/// The front end's settings; the names and defaults are the `audio_microfrontend` op's attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct MicroFrontendConfig {
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Window length in ms (op default 25; micro_speech 30).
    pub window_size_ms: u32,
    /// Window step in ms (op default 10; micro_speech 20).
    pub window_step_ms: u32,
    /// Filterbank channels (op default 32; micro_speech 40).
    pub num_channels: usize,
    /// Lowest frequency of the filterbank in Hz (125).
    pub lower_band_limit: f32,
    /// Highest frequency of the filterbank in Hz (7500).
    pub upper_band_limit: f32,
    /// Noise reduction: scale the signal up by `2^smoothing_bits` before smoothing (10).
    pub smoothing_bits: u32,
    /// Noise estimate smoothing for even channels (0.025).
    pub even_smoothing: f32,
    /// Noise estimate smoothing for odd channels (0.06).
    pub odd_smoothing: f32,
    /// Fraction of the signal always kept by noise reduction (0.05).
    pub min_signal_remaining: f32,
    /// PCAN gain control on (true in the Python wrapper `audio_microfrontend`, which
    /// speech_commands training calls without setting it; the C++ op's own default is false).
    pub enable_pcan: bool,
    /// PCAN gain normalization exponent (0.95).
    pub pcan_strength: f32,
    /// PCAN offset added in the normalization denominator (80).
    pub pcan_offset: f32,
    /// PCAN fractional gain bits (21).
    pub gain_bits: i32,
    /// Log scaling on (true).
    pub enable_log: bool,
    /// Log output scale: `2^scale_shift` (6).
    pub scale_shift: u32,
}

impl MicroFrontendConfig {
    /// The micro_speech settings: 30 ms window, 20 ms step, 40 channels, 125-7500 Hz,
    /// the Python op's defaults otherwise (PCAN on), as TensorFlow's speech_commands training runs it.
    pub fn micro_speech() -> Self {
        MicroFrontendConfig {
            window_size_ms: 30,
            window_step_ms: 20,
            num_channels: 40,
            ..Self::op_defaults()
        }
    }

    /// The defaults of the Python `audio_microfrontend` wrapper (25 ms window, 10 ms step, 32 channels, PCAN on).
    pub fn op_defaults() -> Self {
        MicroFrontendConfig {
            sample_rate: 16000,
            window_size_ms: 25,
            window_step_ms: 10,
            num_channels: 32,
            lower_band_limit: 125.0,
            upper_band_limit: 7500.0,
            smoothing_bits: 10,
            even_smoothing: 0.025,
            odd_smoothing: 0.06,
            min_signal_remaining: 0.05,
            enable_pcan: true,
            pcan_strength: 0.95,
            pcan_offset: 80.0,
            gain_bits: 21,
            enable_log: true,
            scale_shift: 6,
        }
    }
}

impl Default for MicroFrontendConfig {
    /// [`MicroFrontendConfig::micro_speech`].
    fn default() -> Self {
        Self::micro_speech()
    }
}

/// `floor(log2(n)) + 1`, 0 for 0 (`MostSignificantBit32`).
#[inline(always)]
fn msb32(n: u32) -> u32 {
    32 - n.leading_zeros()
}

/// `FreqToMel`: `1127 ln(1 + f / 700)` in double, narrowed to float.
fn freq_to_mel(freq: f32) -> f32 {
    (1127.0 * (freq as f64 / 700.0).ln_1p()) as f32
}

/// One filterbank channel's bins: `weights[j]` applies to FFT bin `start + j`.
#[derive(Debug, Clone)]
struct Band {
    start: usize,
    weights: Vec<u64>,
    unweights: Vec<u64>,
}

/// Coefficients per vector step of the filterbank's dot products (four i64 lanes of AVX2).
const ROW_STEP: usize = 4;

/// One output channel of the filterbank: `coefs[at..at + len]` apply to FFT bins `start..start + len`.
#[derive(Debug, Clone)]
struct Row {
    start: usize,
    at: usize,
    len: usize,
}

/// The mel filterbank in 12-bit fixed point (`FilterbankPopulateState`).
///
/// The reference keeps `num_channels + 1` bands and lets output channel `c`
/// sum band `c + 1`'s weights and band `c`'s unweights over the energies.
/// Bands are contiguous, so here each output channel is one row: the
/// coefficients of band `c`'s unweights followed by band `c + 1`'s weights,
/// zero-padded to a multiple of [`ROW_STEP`], and its value one dot product.
#[derive(Debug, Clone)]
struct Filterbank {
    start_index: usize,
    end_index: usize,
    rows: Vec<Row>,
    /// Every row's coefficients (12-bit weights, kept as i64 for the AVX2 multiply).
    coefs: Vec<i64>,
}

impl Filterbank {
    fn new(cfg: &MicroFrontendConfig, spectrum_size: usize) -> Result<Self> {
        let n1 = cfg.num_channels + 1;
        // Center frequencies in float, as CalculateCenterFrequencies.
        let mel_low = freq_to_mel(cfg.lower_band_limit);
        let mel_hi = freq_to_mel(cfg.upper_band_limit);
        let mel_spacing = (mel_hi - mel_low) / n1 as f32;
        let centers: Vec<f32> = (0..n1)
            .map(|i| mel_low + mel_spacing * (i + 1) as f32)
            .collect();
        // 0.5 * sample_rate in double over (float)(spectrum_size) - 1, stored as float.
        let hz_per_sbin =
            (0.5 * cfg.sample_rate as f64 / (spectrum_size as f32 - 1.0) as f64) as f32;
        // DC is always excluded: 1.5 + lower / hz (float division, double add), truncated.
        let start_index = (1.5 + (cfg.lower_band_limit / hz_per_sbin) as f64) as usize;
        let mut bands = Vec::with_capacity(n1);
        let mut end_index = 0;
        let mut chan_start = start_index;
        for (chan, &center) in centers.iter().enumerate() {
            let mut freq = chan_start;
            while freq < spectrum_size && freq_to_mel(freq as f32 * hz_per_sbin) <= center {
                freq += 1;
            }
            let denom = if chan == 0 {
                mel_low
            } else {
                centers[chan - 1]
            };
            let (weights, unweights) = (chan_start..freq)
                .map(|f| {
                    let w = (center - freq_to_mel(f as f32 * hz_per_sbin)) / (center - denom);
                    let q = |v: f64| (v * (1 << FILTERBANK_BITS) as f64 + 0.5).floor() as i16;
                    // weight: float product, double add; unweight: double throughout.
                    let weight = ((w * (1 << FILTERBANK_BITS) as f32) as f64 + 0.5).floor() as i16;
                    let unweight = q(1.0 - w as f64);
                    (weight as u64, unweight as u64)
                })
                .unzip();
            bands.push(Band {
                start: chan_start,
                weights,
                unweights,
            });
            end_index = end_index.max(freq);
            chan_start = freq;
        }
        if end_index >= spectrum_size {
            return Err(Error::Config(format!(
                "micro frontend: filterbank needs FFT bin {end_index}, above the spectrum's {spectrum_size} bins \
                 (upper_band_limit {} Hz at sample_rate {} Hz)",
                cfg.upper_band_limit, cfg.sample_rate
            )));
        }
        let (mut rows, mut coefs) = (Vec::with_capacity(cfg.num_channels), Vec::new());
        for pair in bands.windows(2) {
            let (low, high) = (&pair[0], &pair[1]);
            let at = coefs.len();
            coefs.extend(low.unweights.iter().chain(&high.weights).map(|&w| w as i64));
            let len = (coefs.len() - at).next_multiple_of(ROW_STEP);
            coefs.resize(at + len, 0);
            rows.push(Row {
                start: low.start,
                at,
                len,
            });
        }
        Ok(Filterbank {
            start_index,
            end_index,
            rows,
            coefs,
        })
    }

    /// Length the energy buffer needs: every row's padded run of bins fits in it.
    fn energy_len(&self) -> usize {
        self.rows.iter().map(|r| r.start + r.len).max().unwrap_or(0)
    }

    /// Channel energies (`FilterbankAccumulateChannels`) into `sums`, one per channel.
    ///
    /// The reference widens each int32 energy to uint64 with sign extension and
    /// sums the products with wrap-around; the i64 dot products here are the
    /// same sums modulo 2^64 (each product `|w e| <= 2^12 2^31` is exact in i64).
    /// `energy` has [`Filterbank::energy_len`] values.
    fn accumulate(&self, energy: &[i32], avx2: bool, sums: &mut [u64]) {
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: `avx2` is set only when the CPU has AVX2.
            unsafe { avx2::dots(&self.rows, &self.coefs, energy, sums) };
        }
        if !avx2 {
            for (s, row) in sums.iter_mut().zip(&self.rows) {
                let w = &self.coefs[row.at..row.at + row.len];
                let e = &energy[row.start..row.start + row.len];
                let dot = w
                    .iter()
                    .zip(e)
                    .fold(0i64, |a, (&w, &e)| a.wrapping_add(w * e as i64));
                *s = dot as u64;
            }
        }
    }
}

/// `floor(sqrt(num))`; through f64 below 2^50, where it is exact: `num`
/// converts exactly, and `sqrt(k^2 - 1) < k - 1/(2k)` stays more than half an
/// ulp of `k` (`k 2^-53`) below `k` for `k < 2^25`, so the rounded root never
/// reaches the next integer.
#[inline(always)]
fn isqrt64(num: u64) -> u64 {
    if num < 1 << 50 {
        (num as f64).sqrt() as u64
    } else {
        num.isqrt()
    }
}

/// Integer square root rounded to nearest (`Sqrt64`; `Sqrt32` when the high word is 0).
///
/// The reference computes the floor root digit by digit; both of its paths round up when the remainder exceeds the floor root, unless the
/// root is saturated: 0xFFFF on the 32-bit path (the 64-bit path's roots are
/// at least 0x10000) and 0xFFFF_FFFF on the 64-bit one.
#[inline(always)]
fn sqrt64(num: u64) -> u32 {
    let res = isqrt64(num);
    let rem = num - res * res;
    let saturated = res == 0xFFFF || res == 0xFFFF_FFFF;
    (res + u64::from(rem > res && !saturated)) as u32
}

/// The reference's digit-by-digit `Sqrt32`, kept to check [`sqrt64`] against.
#[cfg(test)]
fn sqrt32_digits(mut num: u32) -> u32 {
    if num == 0 {
        return 0;
    }
    let mut res = 0u32;
    let max_bit_number = (32 - msb32(num)) | 1;
    let mut bit = 1u32 << (31 - max_bit_number);
    let iterations = (31 - max_bit_number) / 2 + 1;
    for _ in 0..iterations {
        if num >= res + bit {
            num -= res + bit;
            res = (res >> 1) + bit;
        } else {
            res >>= 1;
        }
        bit >>= 2;
    }
    if num > res && res != 0xFFFF {
        res += 1;
    }
    res
}

/// PCAN's gain for one value (`PcanGainLookupFunction`), float maths as the reference.
fn pcan_gain(cfg: &MicroFrontendConfig, input_bits: i32, x: u32) -> i16 {
    let x_as_float = x as f32 / (1u32 << input_bits) as f32;
    let gain =
        (1u32 << cfg.gain_bits) as f32 * (x_as_float + cfg.pcan_offset).powf(-cfg.pcan_strength);
    if gain > i16::MAX as f32 {
        return i16::MAX;
    }
    (gain + 0.5) as i16
}

/// PCAN's piecewise-quadratic gain table (`PcanGainControlPopulateState`).
fn pcan_lut(cfg: &MicroFrontendConfig, input_bits: i32) -> Vec<i16> {
    let mut lut = vec![0i16; WIDE_DYNAMIC_FUNCTION_LUT_SIZE];
    lut[0] = pcan_gain(cfg, input_bits, 0);
    lut[1] = pcan_gain(cfg, input_bits, 1);
    for interval in 2..=WIDE_DYNAMIC_FUNCTION_BITS {
        let x0 = 1u32 << (interval - 1);
        let x1 = x0 + (x0 >> 1);
        let x2 = if interval == WIDE_DYNAMIC_FUNCTION_BITS {
            x0 + (x0 - 1)
        } else {
            2 * x0
        };
        let y0 = pcan_gain(cfg, input_bits, x0);
        let y1 = pcan_gain(cfg, input_bits, x1);
        let y2 = pcan_gain(cfg, input_bits, x2);
        let diff1 = y1 as i32 - y0 as i32;
        let diff2 = y2 as i32 - y0 as i32;
        let a1 = 4 * diff1 - diff2;
        let a2 = diff2 - a1;
        let at = 4 * interval as usize - 6;
        lut[at] = y0;
        lut[at + 1] = a1 as i16;
        lut[at + 2] = a2 as i16;
    }
    lut
}

/// Interpolates the gain table at `x` (`WideDynamicFunction`).
fn wide_dynamic_function(x: u32, lut: &[i16]) -> i16 {
    if x <= 2 {
        return lut[x as usize];
    }
    let interval = msb32(x);
    let l = &lut[4 * interval as usize - 6..];
    let frac = (if interval < 11 {
        x << (11 - interval)
    } else {
        x >> (interval - 11)
    } & 0x3FF) as i32;
    let mut result = (l[2] as i32 * frac) >> 5;
    result = result.wrapping_add(((l[1] as i32 as u32) << 5) as i32);
    result = result.wrapping_mul(frac);
    result = (result.wrapping_add(1 << 14)) >> 15;
    result = result.wrapping_add(l[0] as i32);
    result as i16
}

/// Compresses a Q12 SNR to the Q6 output (`PcanShrink`).
fn pcan_shrink(x: u32) -> u32 {
    if x < (2 << PCAN_SNR_BITS) {
        x.wrapping_mul(x) >> (2 + 2 * PCAN_SNR_BITS - PCAN_OUTPUT_BITS)
    } else {
        (x >> (PCAN_SNR_BITS - PCAN_OUTPUT_BITS)).wrapping_sub(1 << PCAN_OUTPUT_BITS)
    }
}

/// `log2(x)`'s fraction in Q16 by table interpolation (`Log2FractionPart`).
fn log2_fraction_part(x: u32, log2x: u32) -> u32 {
    let mut frac = (x as i64 - (1i64 << log2x)) as i32;
    if log2x < LOG_SCALE_LOG2 {
        frac <<= LOG_SCALE_LOG2 - log2x;
    } else {
        frac >>= log2x - LOG_SCALE_LOG2;
    }
    let base_seg = (frac as u32) >> (LOG_SCALE_LOG2 - LOG_SEGMENTS_LOG2);
    let seg_unit = (1u32 << LOG_SCALE_LOG2) >> LOG_SEGMENTS_LOG2;
    let c0 = LOG_LUT[base_seg as usize] as i32;
    let c1 = LOG_LUT[base_seg as usize + 1] as i32;
    let seg_base = (seg_unit * base_seg) as i32;
    let rel_pos = ((c1 - c0) * (frac - seg_base)) >> LOG_SCALE_LOG2;
    (frac + c0 + rel_pos) as u32
}

/// `ln(x) * 2^scale_shift`, rounded, in integers (`Log`); `x > 1`.
fn log_scaled(x: u32, scale_shift: u32) -> u32 {
    let integer = msb32(x) - 1;
    let fraction = log2_fraction_part(x, integer);
    let log2 = (integer << LOG_SCALE_LOG2).wrapping_add(fraction);
    let round = LOG_SCALE / 2;
    let loge = ((LOG_COEFF * log2 as u64 + round as u64) >> LOG_SCALE_LOG2) as u32;
    (loge.wrapping_shl(scale_shift).wrapping_add(round)) >> LOG_SCALE_LOG2
}

/// The front end with its tables built; [`MicroFrontend::compute`] runs it on a clip.
#[derive(Debug, Clone)]
pub struct MicroFrontend {
    cfg: MicroFrontendConfig,
    window_size: usize,
    window_step: usize,
    window: Vec<i16>,
    /// Boxed: the plan and its buffers are a dozen vectors, too big to keep inline.
    fft: Box<KissFftR16>,
    filterbank: Filterbank,
    tail: Tail,
    /// The CPU has AVX2: energies, the filterbank and the per-channel steps use it.
    avx2: bool,
    // Scratch, reused across frames.
    fft_in: Vec<i16>,
    fft_re: Vec<i16>,
    fft_im: Vec<i16>,
    energy: Vec<i32>,
    sums: Vec<u64>,
    estimate: Vec<u32>,
}

impl MicroFrontend {
    /// Builds the window, FFT, filterbank and gain tables for `cfg`.
    pub fn new(cfg: MicroFrontendConfig) -> Result<Self> {
        let bad = |msg: String| Err(Error::Config(format!("micro frontend: {msg}")));
        let window_size = (cfg.window_size_ms as u64 * cfg.sample_rate as u64 / 1000) as usize;
        let window_step = (cfg.window_step_ms as u64 * cfg.sample_rate as u64 / 1000) as usize;
        if window_size < 3 || window_step == 0 {
            return bad(format!(
                "window of {} ms, step {} ms at {} Hz gives {window_size} and {window_step} samples; \
                 need at least 3 and 1",
                cfg.window_size_ms, cfg.window_step_ms, cfg.sample_rate
            ));
        }
        if window_step > window_size {
            return bad(format!(
                "window step {window_step} samples is longer than the window ({window_size})"
            ));
        }
        if cfg.num_channels == 0 {
            return bad("num_channels must be at least 1".into());
        }
        if !(cfg.lower_band_limit >= 0.0 && cfg.upper_band_limit > cfg.lower_band_limit) {
            return bad(format!(
                "need 0 <= lower_band_limit < upper_band_limit, got {} and {}",
                cfg.lower_band_limit, cfg.upper_band_limit
            ));
        }
        if cfg.smoothing_bits > 16 || cfg.scale_shift > 16 {
            return bad(format!(
                "smoothing_bits {} and scale_shift {} must be at most 16",
                cfg.smoothing_bits, cfg.scale_shift
            ));
        }
        let fft_size = window_size.next_power_of_two();
        let fft = Box::new(KissFftR16::new(fft_size).expect("power of two >= 4"));
        let spectrum_size = fft_size / 2 + 1;
        let filterbank = Filterbank::new(&cfg, spectrum_size)?;
        // WindowPopulateState: float arg, double cosine, float value, rounded Q12.
        let arg = (std::f64::consts::PI * 2.0 / window_size as f32 as f64) as f32;
        let window = (0..window_size)
            .map(|i| {
                let v = (0.5 - 0.5 * (arg as f64 * (i as f64 + 0.5)).cos()) as f32;
                ((v * (1 << WINDOW_BITS) as f32) as f64 + 0.5).floor() as i16
            })
            .collect();
        let q14 = |v: f32| (v * (1u32 << NOISE_REDUCTION_BITS) as f32) as u16 as u32;
        let correction_bits = msb32(fft_size as u32) as i32 - 1 - FILTERBANK_BITS / 2;
        let (pcan_lut, snr_shift) = if cfg.enable_pcan {
            let snr_shift = cfg.gain_bits - correction_bits - PCAN_SNR_BITS as i32;
            if !(0..32).contains(&snr_shift) || !(0..32).contains(&cfg.gain_bits) {
                return bad(format!(
                    "gain_bits {} gives a PCAN shift of {snr_shift}; need 0..31",
                    cfg.gain_bits
                ));
            }
            let input_bits = cfg.smoothing_bits as i32 - correction_bits;
            (pcan_lut(&cfg, input_bits), snr_shift as u32)
        } else {
            (Vec::new(), 0)
        };
        // Noise smoothing alternates between even and odd channels.
        let (even, odd) = (q14(cfg.even_smoothing), q14(cfg.odd_smoothing));
        let smoothing: Vec<u64> = (0..cfg.num_channels)
            .map(|i| u64::from(if i % 2 == 0 { even } else { odd }))
            .collect();
        // Entry i packs lut[i], lut[i + 1], lut[i + 2] (16 bits each) for one AVX2 gather.
        let pcan_triples = (0..pcan_lut.len())
            .map(|i| {
                (0..3).fold(0i64, |acc, k| {
                    let v = pcan_lut.get(i + k).map_or(0, |&v| v as u16 as i64);
                    acc | v << (16 * k)
                })
            })
            .collect();
        let tail = Tail {
            smoothing_bits: cfg.smoothing_bits,
            one_minus_smoothing: smoothing
                .iter()
                .map(|&s| (1 << NOISE_REDUCTION_BITS) - s)
                .collect(),
            smoothing,
            min_signal_remaining: q14(cfg.min_signal_remaining),
            enable_pcan: cfg.enable_pcan,
            pcan_lut,
            pcan_triples,
            snr_shift,
            enable_log: cfg.enable_log,
            correction_bits,
            scale_shift: cfg.scale_shift,
        };
        Ok(MicroFrontend {
            window_size,
            window_step,
            window,
            fft_in: vec![0; fft_size],
            fft_re: vec![0; spectrum_size],
            fft_im: vec![0; spectrum_size],
            energy: vec![0; filterbank.energy_len().max(spectrum_size)],
            sums: vec![0; cfg.num_channels],
            estimate: vec![0; cfg.num_channels],
            fft,
            filterbank,
            tail,
            #[cfg(target_arch = "x86_64")]
            avx2: std::is_x86_feature_detected!("avx2"),
            #[cfg(not(target_arch = "x86_64"))]
            avx2: false,
            cfg,
        })
    }

    /// The settings.
    pub fn config(&self) -> &MicroFrontendConfig {
        &self.cfg
    }

    /// Channels per frame.
    pub fn num_channels(&self) -> usize {
        self.cfg.num_channels
    }

    /// Window length in samples.
    pub fn window_size(&self) -> usize {
        self.window_size
    }

    /// The same front end without the AVX2 paths (the code CPUs without AVX2 run), for tests and benchmarks.
    pub fn portable(mut self) -> Self {
        self.avx2 = false;
        self.fft = Box::new((*self.fft).portable());
        self
    }

    /// Window step in samples.
    pub fn window_step(&self) -> usize {
        self.window_step
    }

    /// Frames for a clip of `samples` samples (49 for 1 s with the micro_speech settings).
    pub fn num_frames(&self, samples: usize) -> usize {
        if samples < self.window_size {
            0
        } else {
            (samples - self.window_size) / self.window_step + 1
        }
    }

    /// Features of one clip, `num_frames * num_channels` values, frame-major, as the op returns them.
    ///
    /// The noise estimate starts from zero for every clip, as in one call of the op.
    pub fn compute(&mut self, audio: &[i16]) -> Vec<u16> {
        let mut out = vec![0u16; self.num_frames(audio.len()) * self.cfg.num_channels];
        self.compute_into(audio, &mut out);
        out
    }

    /// [`MicroFrontend::compute`] into a caller's buffer.
    ///
    /// # Panics
    /// If `out.len()` is not `num_frames(audio.len()) * num_channels()`.
    pub fn compute_into(&mut self, audio: &[i16], out: &mut [u16]) {
        let frames = self.num_frames(audio.len());
        let nc = self.cfg.num_channels;
        assert_eq!(out.len(), frames * nc, "micro frontend: output length");
        self.estimate.iter_mut().for_each(|e| *e = 0);
        for (f, row) in out.chunks_exact_mut(nc).enumerate() {
            let start = f * self.window_step;
            self.frame(&audio[start..start + self.window_size], row);
        }
    }

    /// One frame (`FrontendProcessSamples` once a window is full).
    fn frame(&mut self, samples: &[i16], out: &mut [u16]) {
        // Window: Q12 coefficients, and the largest magnitude for the FFT's input shift.
        let n = self.window_size;
        let (win, samples) = (&mut self.fft_in[..n], &samples[..n]);
        for ((o, &x), &c) in win.iter_mut().zip(samples).zip(&self.window[..n]) {
            *o = ((x as i32 * c as i32) >> WINDOW_BITS) as i16;
        }
        // -32768 stays negative after negation in int16, so it never counts.
        let max_abs = win.iter().fold(0i16, |m, &v| m.max(v.wrapping_abs()));
        // Scale up so the fixed-point FFT keeps as many bits as possible.
        let input_shift = 15 - msb32(max_abs as u32);
        for v in win.iter_mut() {
            *v = ((*v as u16) << input_shift) as i16;
        }
        self.fft_in[n..].iter_mut().for_each(|v| *v = 0);
        self.fft
            .process_split(&self.fft_in, &mut self.fft_re, &mut self.fft_im);

        // Energies of the bins the filterbank reads (others get zero weight).
        let fb = &self.filterbank;
        let bins = fb.start_index..fb.end_index;
        let (re, im) = (&self.fft_re[bins.clone()], &self.fft_im[bins.clone()]);
        let energy = &mut self.energy[bins];
        #[cfg(target_arch = "x86_64")]
        let done = if self.avx2 {
            // SAFETY: `avx2` is set only when the CPU has AVX2.
            unsafe { avx2::energies(re, im, energy) }
        } else {
            0
        };
        #[cfg(not(target_arch = "x86_64"))]
        let done = 0;
        for ((e, &r), &i) in energy[done..].iter_mut().zip(&re[done..]).zip(&im[done..]) {
            let (r, i) = (r as i32, i as i32);
            *e = (r * r).wrapping_add(i * i);
        }
        fb.accumulate(&self.energy, self.avx2, &mut self.sums);

        #[cfg(target_arch = "x86_64")]
        let done = if self.avx2 {
            // SAFETY: `avx2` is set only when the CPU has AVX2.
            unsafe { avx2::tail(&self.tail, &self.sums, input_shift, &mut self.estimate, out) }
        } else {
            0
        };
        #[cfg(not(target_arch = "x86_64"))]
        let done = 0;
        for (i, ((o, &sum), est)) in out
            .iter_mut()
            .zip(&self.sums)
            .zip(&mut self.estimate)
            .enumerate()
            .skip(done)
        {
            *o = self.tail.channel(i, sum, input_shift, est);
        }
    }
}

/// The per-channel steps after the filterbank, with their settings and tables.
#[derive(Debug, Clone)]
struct Tail {
    smoothing_bits: u32,
    /// Per channel: the noise smoothing (the even or odd one) and `2^14` minus it, Q14.
    smoothing: Vec<u64>,
    one_minus_smoothing: Vec<u64>,
    min_signal_remaining: u32,
    enable_pcan: bool,
    /// PCAN's gain table; empty when PCAN is off.
    pcan_lut: Vec<i16>,
    /// Entry i packs `pcan_lut[i..i + 3]` in 16-bit fields, for the AVX2 gather.
    pcan_triples: Vec<i64>,
    snr_shift: u32,
    enable_log: bool,
    /// `MSB(fft_size) - 1 - 6`, the log's input correction.
    correction_bits: i32,
    scale_shift: u32,
}

impl Tail {
    /// Channel `i` from its filterbank sum: `sqrt(sum) >> shift` (`FilterbankSqrt`),
    /// noise reduction (`NoiseReductionApply`, updating `est`), PCAN
    /// (`PcanGainControlApply`) and the log (`LogScaleApply`), narrowed to u16.
    fn channel(&self, i: usize, sum: u64, shift: u32, est: &mut u32) -> u16 {
        let s = sqrt64(sum) >> shift;
        let bits = self.smoothing_bits;
        let scaled_up = s.wrapping_shl(bits);
        let estimate = ((scaled_up as u64 * self.smoothing[i]
            + *est as u64 * self.one_minus_smoothing[i])
            >> NOISE_REDUCTION_BITS) as u32;
        *est = estimate;
        let floor = ((s as u64 * self.min_signal_remaining as u64) >> NOISE_REDUCTION_BITS) as u32;
        let mut value = ((scaled_up - estimate.min(scaled_up)) >> bits).max(floor);
        if self.enable_pcan {
            let gain = wide_dynamic_function(estimate, &self.pcan_lut) as i32 as u32;
            let snr = ((value as u64 * gain as u64) >> self.snr_shift) as u32;
            value = pcan_shrink(snr);
        }
        if self.enable_log {
            value = if self.correction_bits < 0 {
                value >> (-self.correction_bits)
            } else {
                value.wrapping_shl(self.correction_bits as u32)
            };
            value = if value > 1 {
                log_scaled(value, self.scale_shift)
            } else {
                0
            };
        }
        value.min(u16::MAX as u32) as u16
    }
}

/// AVX2 versions of the energy and filterbank loops; callers check for AVX2 at run time.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Row, Tail, LOG_COEFF, LOG_PAIRS, ROW_STEP};
    use std::arch::x86_64::*;

    /// Sums below `2^SQRT_LIMIT_BITS` take the AVX2 square root: f64 holds them and their roots exactly (see [`super::isqrt64`]).
    const SQRT_LIMIT_BITS: i32 = 50;

    /// Four u64 lanes of `v` from `at`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn load4(v: &[u64], at: usize) -> __m256i {
        let v: &[u64; 4] = v[at..at + 4].try_into().expect("4 lanes");
        // SAFETY: `v` is 32 readable bytes; the load is unaligned.
        unsafe { _mm256_loadu_si256(v.as_ptr().cast()) }
    }

    /// `x` as f64 per lane, exact for `0 <= x < 2^52` (placed in the mantissa of 2^52, which is then subtracted).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn to_f64(x: __m256i) -> __m256d {
        let two52 = _mm256_set1_epi64x(0x4330_0000_0000_0000);
        _mm256_sub_pd(
            _mm256_castsi256_pd(_mm256_or_si256(x, two52)),
            _mm256_castsi256_pd(two52),
        )
    }

    /// `floor(log2(x))` per lane for `1 <= x < 2^52`, from the exponent of `x` as f64.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn floor_log2(x: __m256i) -> __m256i {
        let bits = _mm256_castpd_si256(to_f64(x));
        _mm256_sub_epi64(_mm256_srli_epi64(bits, 52), _mm256_set1_epi64x(1023))
    }

    /// `b` where `pick` is all ones, else `a` (per 64-bit lane).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn select(pick: __m256i, a: __m256i, b: __m256i) -> __m256i {
        _mm256_blendv_epi8(a, b, pick)
    }

    /// The per-channel steps after the filterbank ([`super::Tail::channel`]) four
    /// channels at a time, each value in a u64 lane; returns how many channels
    /// it did (it stops early at a sum too large for its square root).
    ///
    /// 32-bit arithmetic (`mullo_epi32`, `srai_epi32`) runs on the low halves of
    /// the lanes, whose high halves are then ignored or masked off.
    #[target_feature(enable = "avx2")]
    pub(super) fn tail(
        t: &Tail,
        sums: &[u64],
        shift: u32,
        estimate: &mut [u32],
        out: &mut [u16],
    ) -> usize {
        let n = sums.len().min(estimate.len()).min(out.len()) / 4 * 4;
        let zero = _mm256_setzero_si256();
        let one = |v: i64| _mm256_set1_epi64x(v);
        let count = |v: u32| _mm_cvtsi32_si128(v as i32);
        let mask32 = one(0xFFFF_FFFF);
        let mut at = 0;
        while at < n {
            let num = load4(sums, at);
            // Unsigned: a sum at or above 2^63 is negative as i64, so test the high bits.
            let high = _mm256_srli_epi64(num, SQRT_LIMIT_BITS);
            let fits = _mm256_cmpeq_epi64(high, zero);
            if _mm256_movemask_pd(_mm256_castsi256_pd(fits)) != 0b1111 {
                break;
            }
            // Sqrt64: the floor root (below 2^25, so it fits an i32), rounded up
            // when the remainder exceeds it, unless it is the saturated 0xFFFF.
            let res = _mm256_cvtepi32_epi64(_mm256_cvttpd_epi32(_mm256_sqrt_pd(to_f64(num))));
            let rem = _mm256_sub_epi64(num, _mm256_mul_epu32(res, res));
            let up = _mm256_andnot_si256(
                _mm256_cmpeq_epi64(res, one(0xFFFF)),
                _mm256_cmpgt_epi64(rem, res),
            );
            let s = _mm256_srl_epi64(_mm256_sub_epi64(res, up), count(shift));

            // NoiseReductionApply.
            let bits = count(t.smoothing_bits);
            let scaled_up = _mm256_and_si256(_mm256_sll_epi64(s, bits), mask32);
            let est: &[u32; 4] = estimate[at..at + 4].try_into().expect("4 lanes");
            // SAFETY: `est` is 16 readable bytes; the load is unaligned.
            let est = _mm256_cvtepu32_epi64(unsafe { _mm_loadu_si128(est.as_ptr().cast()) });
            let est = _mm256_add_epi64(
                _mm256_mul_epu32(scaled_up, load4(&t.smoothing, at)),
                _mm256_mul_epu32(est, load4(&t.one_minus_smoothing, at)),
            );
            let est = _mm256_and_si256(_mm256_srli_epi64(est, 14), mask32);
            let low = _mm256_permutevar8x32_epi32(est, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6));
            let dst: &mut [u32; 4] = (&mut estimate[at..at + 4]).try_into().expect("4 lanes");
            // SAFETY: `dst` is 16 writable bytes; the store is unaligned.
            unsafe { _mm_storeu_si128(dst.as_mut_ptr().cast(), _mm256_castsi256_si128(low)) };
            let kept = select(_mm256_cmpgt_epi64(est, scaled_up), est, scaled_up);
            let floor =
                _mm256_srli_epi64(_mm256_mul_epu32(s, one(t.min_signal_remaining as i64)), 14);
            let subtracted = _mm256_srl_epi64(_mm256_sub_epi64(scaled_up, kept), bits);
            let mut s = select(_mm256_cmpgt_epi64(floor, subtracted), subtracted, floor);

            if t.enable_pcan {
                let triples = &t.pcan_triples[..super::WIDE_DYNAMIC_FUNCTION_LUT_SIZE];
                // WideDynamicFunction on the new estimate: lut[x] for x <= 2, else
                // the quadratic of interval MSB(x) at the 10-bit fraction below the MSB.
                let x = est;
                let small = _mm256_cmpgt_epi64(one(3), x);
                let interval = _mm256_add_epi64(floor_log2(x), one(1));
                let idx = select(
                    small,
                    _mm256_sub_epi64(_mm256_slli_epi64(interval, 2), one(6)),
                    x,
                );
                // SAFETY: idx is x <= 2 or 4 MSB(x) - 6 <= 122, inside the table of
                // WIDE_DYNAMIC_FUNCTION_LUT_SIZE entries; the gather reads 8 bytes each.
                let g = unsafe { _mm256_i64gather_epi64::<8>(triples.as_ptr().cast(), idx) };
                let l0 = _mm256_srai_epi32(_mm256_slli_epi32(g, 16), 16);
                let l1 = _mm256_srai_epi32(g, 16);
                let l2 = _mm256_srai_epi32(_mm256_slli_epi32(_mm256_srli_epi64(g, 32), 16), 16);
                // (x << (11 - interval) or x >> (interval - 11)) & 0x3FF, as one shift of x << 11.
                let frac = _mm256_and_si256(
                    _mm256_srlv_epi64(_mm256_slli_epi64(x, 11), interval),
                    one(0x3FF),
                );
                let mut r = _mm256_srai_epi32(_mm256_mullo_epi32(l2, frac), 5);
                r = _mm256_add_epi32(r, _mm256_slli_epi32(l1, 5));
                r = _mm256_mullo_epi32(r, frac);
                r = _mm256_srai_epi32(_mm256_add_epi32(r, one(1 << 14)), 15);
                r = _mm256_add_epi32(r, l0);
                let r = _mm256_srai_epi32(_mm256_slli_epi32(r, 16), 16);
                let gain = _mm256_and_si256(select(small, r, l0), mask32);
                let snr = _mm256_and_si256(
                    _mm256_srl_epi64(_mm256_mul_epu32(s, gain), count(t.snr_shift)),
                    mask32,
                );
                // PcanShrink.
                let quadratic = _mm256_srli_epi32(_mm256_mullo_epi32(snr, snr), 20);
                let linear = _mm256_sub_epi32(_mm256_srli_epi32(snr, 6), one(64));
                let below = _mm256_cmpgt_epi64(one(2 << 12), snr);
                s = _mm256_and_si256(select(below, linear, quadratic), mask32);
            }
            if t.enable_log {
                let v = if t.correction_bits < 0 {
                    _mm256_srl_epi64(s, count(t.correction_bits.unsigned_abs()))
                } else {
                    _mm256_and_si256(_mm256_sll_epi64(s, count(t.correction_bits as u32)), mask32)
                };
                let big = _mm256_cmpgt_epi64(v, one(1));
                // Lanes with v <= 1 compute garbage that stays in bounds and is dropped:
                // their shift counts are huge, which AVX2 shifts turn into 0.
                let integer = floor_log2(v);
                let frac = _mm256_sub_epi64(v, _mm256_sllv_epi64(one(1), integer));
                let frac = _mm256_srlv_epi64(_mm256_slli_epi64(frac, 16), integer);
                let seg = _mm256_srli_epi64(frac, 9);
                // SAFETY: seg = frac >> 9 < 2^16 >> 9 = 128, inside the 129 pairs; 8 bytes each.
                let pair = unsafe { _mm256_i64gather_epi64::<8>(LOG_PAIRS.as_ptr().cast(), seg) };
                let c0 = _mm256_and_si256(pair, mask32);
                let c1 = _mm256_srli_epi64(pair, 32);
                let rel = _mm256_srai_epi32(
                    _mm256_mullo_epi32(
                        _mm256_sub_epi32(c1, c0),
                        _mm256_sub_epi32(frac, _mm256_slli_epi64(seg, 9)),
                    ),
                    16,
                );
                let fraction = _mm256_add_epi32(_mm256_add_epi32(frac, c0), rel);
                let log2 = _mm256_and_si256(
                    _mm256_add_epi32(_mm256_slli_epi32(integer, 16), fraction),
                    mask32,
                );
                let loge = _mm256_srli_epi64(
                    _mm256_add_epi64(_mm256_mul_epu32(log2, one(LOG_COEFF as i64)), one(1 << 15)),
                    16,
                );
                let scaled = _mm256_sll_epi32(loge, count(t.scale_shift));
                let res = _mm256_srli_epi32(_mm256_add_epi32(scaled, one(1 << 15)), 16);
                s = _mm256_and_si256(select(big, zero, res), mask32);
            }
            let mut lanes = [0u64; 4];
            // SAFETY: `lanes` is 32 writable bytes; the store is unaligned.
            unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), s) };
            for (o, &v) in out[at..at + 4].iter_mut().zip(&lanes) {
                *o = v.min(u16::MAX as u64) as u16;
            }
            at += 4;
        }
        at
    }

    /// `re^2 + im^2` per bin in i32 with wrap-around, sixteen bins at a time; returns how many it did.
    ///
    /// `pmaddwd` on the pairs `(re, im)` forms exactly that sum (it wraps only
    /// for `re = im = -32768`, as the scalar `wrapping_add` does).
    #[target_feature(enable = "avx2")]
    pub(super) fn energies(re: &[i16], im: &[i16], out: &mut [i32]) -> usize {
        const BINS: usize = 16;
        let end = out.len().min(re.len()).min(im.len()) / BINS * BINS;
        for at in (0..end).step_by(BINS) {
            let r: &[i16; BINS] = re[at..at + BINS].try_into().expect("16 bins");
            let i: &[i16; BINS] = im[at..at + BINS].try_into().expect("16 bins");
            let o: &mut [i32; BINS] = (&mut out[at..at + BINS]).try_into().expect("16 bins");
            // SAFETY: `r` and `i` are 32 readable bytes, `o` 64 writable ones; unaligned.
            unsafe {
                let r = _mm256_loadu_si256(r.as_ptr().cast());
                let i = _mm256_loadu_si256(i.as_ptr().cast());
                // Unpacks work per 128-bit half: lo holds bins 0-3 and 8-11, hi 4-7 and 12-15.
                let lo = _mm256_unpacklo_epi16(r, i);
                let hi = _mm256_unpackhi_epi16(r, i);
                let (lo, hi) = (_mm256_madd_epi16(lo, lo), _mm256_madd_epi16(hi, hi));
                let p = o.as_mut_ptr();
                _mm256_storeu_si256(p.cast(), _mm256_permute2x128_si256(lo, hi, 0x20));
                _mm256_storeu_si256(p.add(8).cast(), _mm256_permute2x128_si256(lo, hi, 0x31));
            }
        }
        end
    }

    /// Each row's dot product of its coefficients with the energies, in i64 with wrap-around.
    #[target_feature(enable = "avx2")]
    pub(super) fn dots(rows: &[Row], coefs: &[i64], energy: &[i32], sums: &mut [u64]) {
        for (s, row) in sums.iter_mut().zip(rows) {
            let w = &coefs[row.at..row.at + row.len];
            let e = &energy[row.start..row.start + row.len];
            let mut acc = _mm256_setzero_si256();
            for (w, e) in w.chunks_exact(ROW_STEP).zip(e.chunks_exact(ROW_STEP)) {
                // SAFETY: `w` is 32 readable bytes and `e` 16; the loads are unaligned.
                let (w, e) = unsafe {
                    (
                        _mm256_loadu_si256(w.as_ptr().cast()),
                        _mm_loadu_si128(e.as_ptr().cast()),
                    )
                };
                // Signed 32 x 32 -> 64-bit products of the low halves: |w| < 2^15 fits.
                let p = _mm256_mul_epi32(w, _mm256_cvtepi32_epi64(e));
                acc = _mm256_add_epi64(acc, p);
            }
            let mut lanes = [0i64; ROW_STEP];
            // SAFETY: `lanes` is 32 writable bytes; the store is unaligned.
            unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), acc) };
            *s = lanes.iter().fold(0i64, |a, &v| a.wrapping_add(v)) as u64;
        }
    }
}

/// The float feature TensorFlow's speech_commands training uses: `v * 10 / 256`.
pub fn to_float(v: u16) -> f32 {
    v as f32 * FLOAT_SCALE
}

/// The device-side int8 input: `((v * 256) + 333) / 666 - 128`, clamped to int8.
///
/// 666 is `(int)(25.6 * 26 + 0.5)`: the float feature `v / 25.6` spans about
/// 0..26, mapped onto -128..127.
pub fn to_int8(v: u16) -> i8 {
    const VALUE_SCALE: i32 = 256;
    const VALUE_DIV: i32 = 666;
    let q = (v as i32 * VALUE_SCALE + VALUE_DIV / 2) / VALUE_DIV - 128;
    q.clamp(-128, 127) as i8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_square_root() {
        assert_eq!(sqrt64(0), 0);
        // 15: 3 remainder 6 > 3 -> rounds up to 4 (sqrt 3.87).
        assert_eq!(sqrt64(15), 4);
        // 12: 3 remainder 3, not > 3 -> 3 (sqrt 3.46).
        assert_eq!(sqrt64(12), 3);
        assert_eq!(sqrt64(1 << 30), 1 << 15);
        // u32::MAX: sqrt 65535.99998 saturates at 0xFFFF.
        assert_eq!(sqrt64(u32::MAX as u64), 0xFFFF);
        // 2^40: exactly 2^20 on the 64-bit path.
        assert_eq!(sqrt64(1 << 40), 1 << 20);
        // 2^40 + 2^21: sqrt = 2^20 + 1 - tiny, remainder above res -> 2^20 + 1.
        assert_eq!(sqrt64((1 << 40) + (1 << 21)), (1 << 20) + 1);
        // u64::MAX: 2^32 - 1 remainder 2^33 - 2 > root, but the root saturates.
        assert_eq!(sqrt64(u64::MAX), 0xFFFF_FFFF);
        // The isqrt form equals the reference's digit-by-digit loop.
        let mut x = 1u32;
        for _ in 0..200_000 {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            for v in [x, x >> 7, x >> 17, x >> 25] {
                assert_eq!(sqrt64(v as u64), sqrt32_digits(v), "{v}");
            }
        }
        for v in (0..70_000u32).chain(u32::MAX - 70_000..=u32::MAX) {
            assert_eq!(sqrt64(v as u64), sqrt32_digits(v), "{v}");
        }
        // The f64 floor root is exact up to its 2^50 limit: around squares k^2 - 1, k^2
        // there, and beyond it, against std's integer root.
        let near_limit = (1u64 << 25) - 20_000..(1 << 25) + 3;
        for k in near_limit.chain((1..1 << 25).step_by(997)) {
            for v in [k * k - 1, k * k, k * k + k, k * k + k + 1] {
                assert_eq!(isqrt64(v), v.isqrt(), "{v}");
            }
        }
        for v in [
            (1u64 << 50) - 1,
            1 << 50,
            (1 << 52) - 1,
            1 << 53,
            u64::MAX - 1,
        ] {
            assert_eq!(isqrt64(v), v.isqrt(), "{v}");
        }
    }

    #[test]
    fn integer_log() {
        // log_scaled(x, 6) ~ 64 ln(x): ln(2^3) * 64 = 133.08 -> 133.
        assert_eq!(log_scaled(8, 6), 133);
        // 64 ln(1000) = 442.1 -> 442.
        assert_eq!(log_scaled(1000, 6), 442);
        // 64 ln(2^20) = 887.2 -> 887.
        assert_eq!(log_scaled(1 << 20, 6), 887);
    }

    #[test]
    fn micro_speech_window_and_sizes() {
        let f = MicroFrontend::new(MicroFrontendConfig::micro_speech()).unwrap();
        assert_eq!((f.window_size(), f.window_step()), (480, 320));
        // 1 + (16000 - 480) / 320 = 49 frames.
        assert_eq!(f.num_frames(16000), 49);
        assert_eq!(f.num_frames(479), 0);
        // Hann at i = 0: 0.5 - 0.5 cos(pi / 480) = 1.07e-5 -> 0.04 in Q12 -> 0.
        assert_eq!(f.window[0], 0);
        // Middle: i = 239.5 + 0.5 -> cos(pi) = -1 -> 1.0 -> 4096.
        assert_eq!(f.window[240], 4096);
        // Filterbank starts at bin 1.5 + 125 / 31.25 = 5.5 -> 5.
        assert_eq!(f.filterbank.start_index, 5);
        // Noise smoothing: 0.025 * 16384 = 409.6 -> 409; 0.06 -> 983.04 -> 983; 0.05 -> 819.
        assert_eq!(
            (
                f.tail.smoothing[0],
                f.tail.smoothing[1],
                f.tail.min_signal_remaining
            ),
            (409, 983, 819)
        );
    }

    #[test]
    fn silence_is_zero() {
        let mut f = MicroFrontend::new(MicroFrontendConfig::micro_speech()).unwrap();
        assert!(f.compute(&[0i16; 16000]).iter().all(|&v| v == 0));
    }

    #[test]
    fn int8_conversion() {
        // 0 -> (0 + 333) / 666 - 128 = -128.
        assert_eq!(to_int8(0), -128);
        // 666 -> (170496 + 333) / 666 = 256 -> 128 -> clamped to 127.
        assert_eq!(to_int8(666), 127);
        // 333 -> (85248 + 333) / 666 = 128.5 -> 128 -> 0.
        assert_eq!(to_int8(333), 0);
        // 330 -> (84480 + 333) / 666 = 127.3 -> 127 -> -1.
        assert_eq!(to_int8(330), -1);
        assert_eq!(to_int8(u16::MAX), 127);
        // 256 * 10 / 256 = 10.
        assert_eq!(to_float(256), 10.0);
    }

    #[test]
    fn bad_configs_are_errors() {
        let c = MicroFrontendConfig {
            upper_band_limit: 9000.0,
            ..MicroFrontendConfig::micro_speech()
        };
        let e = MicroFrontend::new(c).unwrap_err().to_string();
        assert!(e.contains("above the spectrum"), "{e}");
        let c = MicroFrontendConfig {
            window_size_ms: 0,
            ..MicroFrontendConfig::micro_speech()
        };
        assert!(MicroFrontend::new(c).is_err());
    }

    /// xorshift64: test inputs of every magnitude.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        /// A value with a random number of significant bits (0..=64).
        fn wide(&mut self) -> u64 {
            let bits = self.next() % 65;
            self.next().checked_shr(64 - bits as u32).unwrap_or(0)
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_kernels_equal_the_portable_ones() {
        if !std::is_x86_feature_detected!("avx2") {
            eprintln!("no AVX2: nothing to compare");
            return;
        }
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        // Energies: full-scale parts, including -32768 twice, which wraps.
        let mut re: Vec<i16> = (0..257).map(|_| rng.next() as i16).collect();
        let mut im: Vec<i16> = (0..257).map(|_| rng.next() as i16).collect();
        (re[3], im[3]) = (i16::MIN, i16::MIN);
        let mut fast = vec![0i32; 257];
        // SAFETY: AVX2 was detected above.
        let done = unsafe { avx2::energies(&re, &im, &mut fast) };
        for (k, (&r, &i)) in re.iter().zip(&im).enumerate().take(done) {
            let (r, i) = (r as i32, i as i32);
            assert_eq!(fast[k], (r * r).wrapping_add(i * i), "bin {k}");
        }
        assert_eq!(fast[3], i32::MIN);
        for cfg in [
            MicroFrontendConfig::micro_speech(),
            MicroFrontendConfig::op_defaults(),
            MicroFrontendConfig {
                enable_pcan: false,
                ..MicroFrontendConfig::micro_speech()
            },
            MicroFrontendConfig {
                enable_log: false,
                smoothing_bits: 0,
                ..MicroFrontendConfig::micro_speech()
            },
            MicroFrontendConfig {
                window_size_ms: 64,
                scale_shift: 0,
                ..MicroFrontendConfig::micro_speech()
            },
        ] {
            let f = MicroFrontend::new(cfg.clone()).unwrap();
            let nc = f.num_channels();
            // Filterbank rows on energies of every sign and size.
            let energy: Vec<i32> = (0..f.energy.len()).map(|_| rng.wide() as i32).collect();
            let (mut fast, mut slow) = (vec![0u64; nc], vec![0u64; nc]);
            f.filterbank.accumulate(&energy, true, &mut fast);
            f.filterbank.accumulate(&energy, false, &mut slow);
            assert_eq!(fast, slow, "{cfg:?}");
            let mut checked = 0;
            // Per-channel steps on sums and estimates of every size, plus edge values:
            // square roots at 0xFFFF and around squares, estimates 0..=2, sums past 2^50.
            for round in 0..2000 {
                // Mostly below 2^50, where AVX2 takes them; the rest end its run early.
                let mut sums: Vec<u64> = (0..nc)
                    .map(|_| match rng.next() % 256 {
                        0 => rng.wide(),
                        _ => rng.wide() >> 14,
                    })
                    .collect();
                let edges = [
                    0,
                    1,
                    0xFFFF * 0xFFFF + 0xFFFF + 1,
                    0xFFFF * 0xFFFF - 1,
                    (1 << 50) - 1,
                    1 << 50,
                ];
                sums[round % nc] = edges[round % edges.len()];
                let mut est: Vec<u32> = (0..nc).map(|_| rng.wide() as u32).collect();
                est[(round + 1) % nc] = (round % 3) as u32;
                let shift = (rng.next() % 16) as u32;
                let (mut est_fast, mut out_fast) = (est.clone(), vec![0u16; nc]);
                // SAFETY: AVX2 was detected above.
                let done =
                    unsafe { avx2::tail(&f.tail, &sums, shift, &mut est_fast, &mut out_fast) };
                checked += done;
                for i in 0..done {
                    let mut e = est[i];
                    let o = f.tail.channel(i, sums[i], shift, &mut e);
                    assert_eq!(
                        (out_fast[i], est_fast[i]),
                        (o, e),
                        "{cfg:?} channel {i}: sum {} estimate {} shift {shift}",
                        sums[i],
                        est[i]
                    );
                }
            }
            // Most blocks hold no sum past 2^50 and ran on AVX2.
            assert!(checked > 2000 * nc / 2, "{checked} channels checked");
        }
    }

    #[test]
    fn portable_path_equals_the_default_one() {
        // Chirp plus noise at several levels, through whole clips.
        let mut rng = Rng(7);
        for cfg in [
            MicroFrontendConfig::micro_speech(),
            MicroFrontendConfig::op_defaults(),
        ] {
            let mut fast = MicroFrontend::new(cfg.clone()).unwrap();
            let mut slow = MicroFrontend::new(cfg).unwrap().portable();
            for level in [1.0f64, 100.0, 3000.0, 30000.0] {
                let clip: Vec<i16> = (0..16000)
                    .map(|t| {
                        let x = (t as f64 * t as f64 * 3e-5).sin() * level;
                        (x + (rng.next() % 64) as f64 - 32.0).clamp(-32768.0, 32767.0) as i16
                    })
                    .collect();
                assert_eq!(fast.compute(&clip), slow.compute(&clip), "level {level}");
            }
        }
    }
}
