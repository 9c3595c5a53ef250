//! A real FFT in 16-bit fixed point with KISS FFT's exact arithmetic (`FIXED_POINT=16`).
//!
//! The TFLite-Micro front end runs `kiss_fftr` compiled with `FIXED_POINT=16`
//! (kissfft 36dbc057, the version TensorFlow pins). Its result is not the exact
//! DFT rounded once: every radix stage first divides its inputs by the radix
//! (`x * (32767 / p)`, rounded), every twiddle is `round(32767 * cos)` and every
//! complex product is rounded to 16 bits, and sums wrap at 16 bits. The outputs
//! therefore differ from a float FFT (`rustfft`) by a few least significant bits
//! (on windowed full-scale noise about 80% of the 257 bins differ from the exact
//! DFT / n rounded, by up to 3 LSB; see the tests),
//! and those bits survive into the front end's energies, square roots and logs.
//! Bit-exactness with TensorFlow's `audio_microfrontend` op thus needs this
//! arithmetic, not a float FFT followed by scaling and rounding; this module
//! reimplements it for power-of-two sizes (radix 4 stages, then one radix 2
//! stage when needed), which is all the front end uses.

use std::f64::consts::PI;

/// A complex value with 16-bit parts, like `kiss_fft_cpx` with `FIXED_POINT=16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cpx16 {
    /// Real part.
    pub r: i16,
    /// Imaginary part.
    pub i: i16,
}

/// Fraction bits of the Q15 format.
const FRAC_BITS: u32 = 15;
/// Largest Q15 value (`SAMP_MAX`).
const SAMP_MAX: i32 = i16::MAX as i32;

/// Rounds a Q30 product sum to Q15: `(x + 2^14) >> 15`, narrowed to 16 bits.
#[inline(always)]
fn sround(x: i32) -> i16 {
    (x.wrapping_add(1 << (FRAC_BITS - 1)) >> FRAC_BITS) as i16
}

/// `round(32767 * (cos, sin)(phase))`, as KISS FFT's fixed-point `kf_cexp`.
fn cexp_q15(phase: f64) -> Cpx16 {
    let q = |v: f64| (0.5 + SAMP_MAX as f64 * v).floor() as i16;
    Cpx16 {
        r: q(phase.cos()),
        i: q(phase.sin()),
    }
}

/// Lanes per SIMD block: one 128-bit vector of i16.
const BLOCK: usize = 8;

/// Copies `L` values of `v` from `at` into an array.
#[inline(always)]
fn load<const L: usize>(v: &[i16], at: usize) -> [i16; L] {
    v[at..at + L].try_into().expect("L values")
}

/// Radix-4 butterflies (`kf_bfly4`, forward) on `L` lanes held in arrays.
///
/// `x` is inputs 0..4 (real, imaginary), `w` the twiddles of inputs 1..4
/// (real, imaginary); returns outputs 0..4 in the same layout. Fixed-size
/// arrays let the compiler turn the lane loop into vector instructions.
#[inline(always)]
fn butterfly4_block<const L: usize>(x: [[i16; L]; 8], w: [[i16; L]; 6]) -> [[i16; L]; 8] {
    const K: i32 = SAMP_MAX / 4;
    let mut y = [[0i16; L]; 8];
    for j in 0..L {
        let d = |v: i16| sround(v as i32 * K);
        let (x0r, x0i) = (d(x[0][j]), d(x[1][j]));
        let (s0r, s0i) = cmul_parts(d(x[2][j]), d(x[3][j]), w[0][j], w[1][j]);
        let (s1r, s1i) = cmul_parts(d(x[4][j]), d(x[5][j]), w[2][j], w[3][j]);
        let (s2r, s2i) = cmul_parts(d(x[6][j]), d(x[7][j]), w[4][j], w[5][j]);
        let (s5r, s5i) = (x0r.wrapping_sub(s1r), x0i.wrapping_sub(s1i));
        let (x0r, x0i) = (x0r.wrapping_add(s1r), x0i.wrapping_add(s1i));
        let (s3r, s3i) = (s0r.wrapping_add(s2r), s0i.wrapping_add(s2i));
        let (s4r, s4i) = (s0r.wrapping_sub(s2r), s0i.wrapping_sub(s2i));
        y[0][j] = x0r.wrapping_add(s3r);
        y[1][j] = x0i.wrapping_add(s3i);
        y[2][j] = s5r.wrapping_add(s4i);
        y[3][j] = s5i.wrapping_sub(s4r);
        y[4][j] = x0r.wrapping_sub(s3r);
        y[5][j] = x0i.wrapping_sub(s3i);
        y[6][j] = s5r.wrapping_sub(s4i);
        y[7][j] = s5i.wrapping_add(s4r);
    }
    y
}

/// Radix-2 butterflies (`kf_bfly2`, forward) on `L` lanes held in arrays (layout as [`butterfly4_block`]).
#[inline(always)]
fn butterfly2_block<const L: usize>(x: [[i16; L]; 4], w: [[i16; L]; 2]) -> [[i16; L]; 4] {
    const K: i32 = SAMP_MAX / 2;
    let mut y = [[0i16; L]; 4];
    for j in 0..L {
        let d = |v: i16| sround(v as i32 * K);
        let (xr, xi) = (d(x[0][j]), d(x[1][j]));
        let (tr, ti) = cmul_parts(d(x[2][j]), d(x[3][j]), w[0][j], w[1][j]);
        y[0][j] = xr.wrapping_add(tr);
        y[1][j] = xi.wrapping_add(ti);
        y[2][j] = xr.wrapping_sub(tr);
        y[3][j] = xi.wrapping_sub(ti);
    }
    y
}

/// One stage in Stockham order, lane by lane from lane `from` (the portable path).
///
/// Lane `l = j C + c` is butterfly `j` of class `c`; its input `q` sits at
/// `(j p + q) C + c` of `src` and its output `q` goes to `q m C + l` of `dst`.
fn stage_lanes(st: &Stage, from: usize, src: (&[i16], &[i16]), dst: (&mut [i16], &mut [i16])) {
    let (c, lanes) = (st.c, st.m * st.c);
    for l in from..lanes {
        let at = (l / c * st.p) * c + l % c;
        let x = |q: usize| [[src.0[at + q * c]], [src.1[at + q * c]]];
        let w = |t: usize| [[st.tw_re[t][l]], [st.tw_im[t][l]]];
        if st.p == 4 {
            let (x0, x1, x2, x3) = (x(0), x(1), x(2), x(3));
            let (w1, w2, w3) = (w(0), w(1), w(2));
            let y = butterfly4_block::<1>(
                [x0[0], x0[1], x1[0], x1[1], x2[0], x2[1], x3[0], x3[1]],
                [w1[0], w1[1], w2[0], w2[1], w3[0], w3[1]],
            );
            for q in 0..4 {
                dst.0[q * lanes + l] = y[2 * q][0];
                dst.1[q * lanes + l] = y[2 * q + 1][0];
            }
        } else {
            let (x0, x1, w1) = (x(0), x(1), w(0));
            let y = butterfly2_block::<1>([x0[0], x0[1], x1[0], x1[1]], [w1[0], w1[1]]);
            for q in 0..2 {
                dst.0[q * lanes + l] = y[2 * q][0];
                dst.1[q * lanes + l] = y[2 * q + 1][0];
            }
        }
    }
}

/// `(ar + i ai)(br + i bi)`, each part rounded to Q15 (`C_MUL` with `FIXED_POINT=16`).
#[inline(always)]
fn cmul_parts(ar: i16, ai: i16, br: i16, bi: i16) -> (i16, i16) {
    let (ar, ai, br, bi) = (ar as i32, ai as i32, br as i32, bi as i32);
    (
        sround((ar * br).wrapping_sub(ai * bi)),
        sround((ar * bi).wrapping_add(ai * br)),
    )
}

/// One planned stage: KISS's butterflies of radix `p` on sub-length `m`, in Stockham order.
///
/// Before the stage, element `k` of the length-`m` sub-transform of input
/// class `c` (the inputs `c + t p C`) sits at `k C + c`, with `C = ncfft / (p m)`
/// classes; the stage's butterflies run lane-wise over `l = j C + c`.
#[derive(Debug, Clone)]
struct Stage {
    p: usize,
    m: usize,
    /// Classes `C` after the stage (KISS's twiddle stride `fstride`).
    c: usize,
    /// For `t = 1..p`: real and imaginary parts of `W^(t j C)` for lane `l = j C + c`.
    tw_re: Vec<Vec<i16>>,
    tw_im: Vec<Vec<i16>>,
}

/// A forward real FFT of `n` int16 samples (n a power of two, at least 4) in Q15 fixed point.
///
/// The butterflies, their operands, twiddles and rounding are exactly KISS
/// FFT's; only where the operands sit in memory differs. Real and imaginary
/// parts are kept in separate arrays and the stages run in Stockham order
/// (each reads one buffer and writes the other, and the result comes out in
/// natural order, with no digit reversal), lane-wise: on x86_64 sixteen lanes
/// at a time with AVX2 when the CPU has it, else eight with SSE2; elsewhere
/// and for the remainder lane by lane.
#[derive(Debug, Clone)]
pub struct KissFftR16 {
    /// Size of the inner complex FFT (`n / 2`).
    ncfft: usize,
    /// `exp(-i pi ((k + 1) / ncfft + 1/2))` in Q15 (real, imaginary), for splitting the packed result.
    super_re: Vec<i16>,
    super_im: Vec<i16>,
    /// The stages, innermost first.
    plan: Vec<Stage>,
    /// Ping-pong work arrays of the inner FFT (real, imaginary).
    a: (Vec<i16>, Vec<i16>),
    b: (Vec<i16>, Vec<i16>),
    /// The real split's scratch: mirrored inputs and the upper half's outputs.
    mirror: (Vec<i16>, Vec<i16>),
    upper: (Vec<i16>, Vec<i16>),
    /// The CPU has AVX2: the stages and the split run sixteen lanes at a time.
    avx2: bool,
}

impl KissFftR16 {
    /// Plans a real FFT of size `n`; `None` unless `n` is a power of two and at least 4.
    pub fn new(n: usize) -> Option<Self> {
        if n < 4 || !n.is_power_of_two() {
            return None;
        }
        let ncfft = n / 2;
        // KISS FFT's factorization: powers of 4 first, then the remaining 2.
        let mut radices = Vec::new();
        let mut m = ncfft;
        while m > 1 {
            let p = if m.is_multiple_of(4) { 4 } else { 2 };
            radices.push(p);
            m /= p;
        }
        let twiddles: Vec<Cpx16> = (0..ncfft)
            .map(|k| cexp_q15(-2.0 * PI * k as f64 / ncfft as f64))
            .collect();
        let super_twiddles: Vec<Cpx16> = (0..ncfft / 2)
            .map(|k| cexp_q15(-PI * ((k + 1) as f64 / ncfft as f64 + 0.5)))
            .collect();
        // KISS FFT recurses (decimation in time): stage s with radix p splits its
        // input into p interleaved parts of stride fstride * p. Unrolled, the
        // butterflies run innermost stage first, each sub-transform independently.
        let mut stages = Vec::new();
        let mut fstride = 1;
        let mut m = ncfft;
        for &p in &radices {
            m /= p;
            stages.push((p, m, fstride));
            fstride *= p;
        }
        stages.reverse();
        let plan: Vec<Stage> = stages
            .iter()
            .map(|&(p, m, fstride)| {
                let per_lane = |t: usize, part: fn(Cpx16) -> i16| -> Vec<i16> {
                    (0..m * fstride)
                        .map(|l| part(twiddles[t * (l / fstride) * fstride]))
                        .collect()
                };
                Stage {
                    p,
                    m,
                    c: fstride,
                    tw_re: (1..p).map(|t| per_lane(t, |c| c.r)).collect(),
                    tw_im: (1..p).map(|t| per_lane(t, |c| c.i)).collect(),
                }
            })
            .collect();
        let zeros = || (vec![0i16; ncfft], vec![0i16; ncfft]);
        let half = || (vec![0i16; ncfft / 2 + 1], vec![0i16; ncfft / 2 + 1]);
        Some(KissFftR16 {
            ncfft,
            plan,
            super_re: super_twiddles.iter().map(|c| c.r).collect(),
            super_im: super_twiddles.iter().map(|c| c.i).collect(),
            a: zeros(),
            b: zeros(),
            mirror: half(),
            upper: half(),
            #[cfg(target_arch = "x86_64")]
            avx2: std::is_x86_feature_detected!("avx2"),
            #[cfg(not(target_arch = "x86_64"))]
            avx2: false,
        })
    }

    /// The real FFT size.
    pub fn len(&self) -> usize {
        2 * self.ncfft
    }

    /// The same plan without the AVX2 paths: SSE2 on x86_64, as on CPUs without AVX2.
    pub fn portable(mut self) -> Self {
        self.avx2 = false;
        self
    }

    /// Always false: the smallest plan has 4 points.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Transforms `input` (`len()` samples) into `output` (`len() / 2 + 1` bins), like `kiss_fftr`.
    ///
    /// # Panics
    /// If the slice lengths are wrong.
    pub fn process(&mut self, input: &[i16], output: &mut [Cpx16]) {
        let bins = self.ncfft + 1;
        assert_eq!(output.len(), bins, "kiss_fftr16: output length");
        let mut re = vec![0i16; bins];
        let mut im = vec![0i16; bins];
        self.process_split(input, &mut re, &mut im);
        for ((o, r), i) in output.iter_mut().zip(re).zip(im) {
            *o = Cpx16 { r, i };
        }
    }

    /// [`KissFftR16::process`] with the bins' real and imaginary parts in separate slices.
    ///
    /// # Panics
    /// If the slice lengths are wrong.
    pub fn process_split(&mut self, input: &[i16], out_re: &mut [i16], out_im: &mut [i16]) {
        let n = self.ncfft;
        assert_eq!(input.len(), 2 * n, "kiss_fftr16: input length");
        assert_eq!(out_re.len(), n + 1, "kiss_fftr16: output length");
        assert_eq!(out_im.len(), n + 1, "kiss_fftr16: output length");
        // Pairs of real samples are the complex input of the half-size FFT.
        #[cfg(target_arch = "x86_64")]
        let done = sse2::split_pairs(input, &mut self.a.0, &mut self.a.1);
        #[cfg(not(target_arch = "x86_64"))]
        let done = 0;
        for ((r, i), pair) in self.a.0[done..]
            .iter_mut()
            .zip(self.a.1[done..].iter_mut())
            .zip(input[2 * done..].chunks_exact(2))
        {
            *r = pair[0];
            *i = pair[1];
        }
        self.work();
        self.split(out_re, out_im);
    }

    /// Turns the inner FFT's result (in `a`) into the real input's bins (`kiss_fftr`'s last loop).
    fn split(&mut self, out_re: &mut [i16], out_im: &mut [i16]) {
        let n = self.ncfft;
        let h = n / 2;
        let (tr, ti) = (&self.a.0[..n], &self.a.1[..n]);
        let half = |v: i16| sround(v as i32 * (SAMP_MAX / 2));
        let (dcr, dci) = (half(tr[0]), half(ti[0]));
        out_re[0] = dcr.wrapping_add(dci);
        out_im[0] = 0;
        out_re[n] = dcr.wrapping_sub(dci);
        out_im[n] = 0;
        // mirror[k] = tmp[n - k] for k = 1..=n/2, so that the loop below runs lane-wise.
        let (mr, mi) = (&mut self.mirror.0[1..=h], &mut self.mirror.1[1..=h]);
        for (r, &t) in mr.iter_mut().zip(tr[h..].iter().rev()) {
            *r = t;
        }
        for (i, &t) in mi.iter_mut().zip(ti[h..].iter().rev()) {
            *i = t;
        }
        let src = [
            &tr[1..=h],
            &ti[1..=h],
            &self.mirror.0[1..=h],
            &self.mirror.1[1..=h],
            &self.super_re[..h],
            &self.super_im[..h],
        ];
        let (ur, ui) = (&mut self.upper.0[1..=h], &mut self.upper.1[1..=h]);
        let mut dst = [&mut out_re[1..=h], &mut out_im[1..=h], ur, ui];
        #[cfg(target_arch = "x86_64")]
        let done = {
            let done = if self.avx2 {
                // SAFETY: `avx2` is set only when the CPU has AVX2.
                unsafe { avx2::split(h, &src, &mut dst) }
            } else {
                0
            };
            sse2::split(done, h, &src, &mut dst)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let done = {
            let blocks = h / BLOCK * BLOCK;
            for at in (0..blocks).step_by(BLOCK) {
                split_run::<BLOCK>(at, &src, &mut dst);
            }
            blocks
        };
        for at in done..h {
            split_run::<1>(at, &src, &mut dst);
        }
        let (ur, ui) = (&self.upper.0[1..=h], &self.upper.1[1..=h]);
        // Bin n - k; for k = n/2 this overwrites bin k, as KISS FFT does.
        for (o, &r) in out_re[h..n].iter_mut().rev().zip(ur) {
            *o = r;
        }
        for (o, &i) in out_im[h..n].iter_mut().rev().zip(ui) {
            *o = i;
        }
    }

    /// The inner complex FFT (`kiss_fft` on `ncfft` points) of `a`, result in `a`, natural order.
    fn work(&mut self) {
        for st in &self.plan {
            let (src, dst) = (&self.a, &mut self.b);
            let src = (&src.0[..], &src.1[..]);
            #[cfg(target_arch = "x86_64")]
            let done = {
                let done = if self.avx2 {
                    // SAFETY: `avx2` is set only when the CPU has AVX2.
                    unsafe { avx2::stage(st, src, (&mut dst.0, &mut dst.1)) }
                } else {
                    0
                };
                sse2::stage(st, done, src, (&mut dst.0, &mut dst.1))
            };
            #[cfg(not(target_arch = "x86_64"))]
            let done = 0;
            stage_lanes(st, done, src, (&mut dst.0, &mut dst.1));
            std::mem::swap(&mut self.a, &mut self.b);
        }
    }
}

/// SSE2 versions of the lane kernels (SSE2 is part of x86_64, so no detection is needed).
///
/// Same arithmetic as [`butterfly4_block`]: `pmaddwd` forms `ar br - ai bi`
/// and `ar bi + ai br` in i32 with the same wrap-around, and the rounding
/// `(x + 2^14) >> 15` keeps the low 16 bits as the scalar `as i16` does
/// (`((x + 2^14) << 1) >> 16`, arithmetic, then an exact pack).
#[cfg(target_arch = "x86_64")]
mod sse2 {
    use super::{Stage, BLOCK, SAMP_MAX};
    use std::arch::x86_64::*;

    /// Eight lanes of `v` from `at`.
    #[inline(always)]
    fn load(v: &[i16], at: usize) -> __m128i {
        let v: &[i16; BLOCK] = v[at..at + BLOCK].try_into().expect("8 lanes");
        // SAFETY: `v` is 16 readable bytes; the load is unaligned.
        unsafe { _mm_loadu_si128(v.as_ptr().cast()) }
    }

    /// Stores eight lanes into `v` from `at`.
    #[inline(always)]
    fn store(v: &mut [i16], at: usize, x: __m128i) {
        let v: &mut [i16; BLOCK] = (&mut v[at..at + BLOCK]).try_into().expect("8 lanes");
        // SAFETY: `v` is 16 writable bytes; the store is unaligned.
        unsafe { _mm_storeu_si128(v.as_mut_ptr().cast(), x) }
    }

    /// `sround` of four i32 lanes each of `lo` and `hi`, narrowed with wrap-around.
    #[inline(always)]
    fn round_pack(lo: __m128i, hi: __m128i) -> __m128i {
        // SAFETY: SSE2 intrinsics on values only.
        unsafe {
            let half = _mm_set1_epi32(1 << 14);
            let lo = _mm_srai_epi32(_mm_slli_epi32(_mm_add_epi32(lo, half), 1), 16);
            let hi = _mm_srai_epi32(_mm_slli_epi32(_mm_add_epi32(hi, half), 1), 16);
            _mm_packs_epi32(lo, hi)
        }
    }

    /// `sround(x * k)` per lane for `k = 32767 / p`; `kh` holds the pairs `(k, 2^14)`.
    ///
    /// `pmaddwd` on the pairs `(x, 1)` forms `x k + 2^14` exactly in i32; after `>> 15`
    /// the value is within `|x| k / 2^15 + 1 < 2^15`, so the pack is exact.
    #[inline(always)]
    fn scale(x: __m128i, kh: __m128i) -> __m128i {
        // SAFETY: SSE2 intrinsics on values only.
        unsafe {
            let one = _mm_set1_epi16(1);
            let lo = _mm_madd_epi16(_mm_unpacklo_epi16(x, one), kh);
            let hi = _mm_madd_epi16(_mm_unpackhi_epi16(x, one), kh);
            _mm_packs_epi32(_mm_srai_epi32(lo, 15), _mm_srai_epi32(hi, 15))
        }
    }

    /// The `(k, 2^14)` pairs [`scale`] takes, for `k = 32767 / p`.
    #[inline(always)]
    fn scale_pairs(p: i32) -> __m128i {
        // SAFETY: SSE2 intrinsics on values only.
        unsafe { _mm_set1_epi32(((1 << 14) << 16) | (SAMP_MAX / p)) }
    }

    /// Splits 16 interleaved samples from `at` into 8 even and 8 odd ones.
    #[inline(always)]
    pub(super) fn deinterleave(input: &[i16], at: usize) -> (__m128i, __m128i) {
        let (a, b) = (load(input, at), load(input, at + BLOCK));
        // SAFETY: SSE2 intrinsics on values only.
        unsafe {
            // Even samples are the low halves of the i32 lanes, odd ones the high halves.
            let even = |v| _mm_srai_epi32(_mm_slli_epi32(v, 16), 16);
            let odd = |v| _mm_srai_epi32(v, 16);
            (
                _mm_packs_epi32(even(a), even(b)),
                _mm_packs_epi32(odd(a), odd(b)),
            )
        }
    }

    /// Splits `input` into its even (`re`) and odd (`im`) samples, 8 at a time; returns how many pairs it did.
    pub(super) fn split_pairs(input: &[i16], re: &mut [i16], im: &mut [i16]) -> usize {
        let blocks = re.len().min(input.len() / 2) / BLOCK * BLOCK;
        for at in (0..blocks).step_by(BLOCK) {
            let (e, o) = deinterleave(input, 2 * at);
            store(re, at, e);
            store(im, at, o);
        }
        blocks
    }

    /// `(ar + i ai)(br + i bi)` per lane, each part rounded to Q15.
    #[inline(always)]
    fn cmul(ar: __m128i, ai: __m128i, br: __m128i, bi: __m128i) -> (__m128i, __m128i) {
        // SAFETY: SSE2 intrinsics on values only.
        unsafe {
            let (alo, ahi) = (_mm_unpacklo_epi16(ar, ai), _mm_unpackhi_epi16(ar, ai));
            // Twiddle parts lie in -32767..=32767, so negating bi cannot wrap.
            let nbi = _mm_sub_epi16(_mm_setzero_si128(), bi);
            let (rlo, rhi) = (_mm_unpacklo_epi16(br, nbi), _mm_unpackhi_epi16(br, nbi));
            let (ilo, ihi) = (_mm_unpacklo_epi16(bi, br), _mm_unpackhi_epi16(bi, br));
            (
                round_pack(_mm_madd_epi16(alo, rlo), _mm_madd_epi16(ahi, rhi)),
                round_pack(_mm_madd_epi16(alo, ilo), _mm_madd_epi16(ahi, ihi)),
            )
        }
    }

    /// `floor((a + b) / 2)` per lane, as the scalar `((a as i32 + b as i32) >> 1) as i16`.
    #[inline(always)]
    fn half_sum(a: __m128i, b: __m128i) -> __m128i {
        // SAFETY: SSE2 intrinsics on values only.
        unsafe {
            // a = 2p + x, b = 2q + y: (a + b) >> 1 = p + q + (x & y).
            let one = _mm_set1_epi16(1);
            let carry = _mm_and_si128(_mm_and_si128(a, b), one);
            _mm_add_epi16(
                _mm_add_epi16(_mm_srai_epi16(a, 1), _mm_srai_epi16(b, 1)),
                carry,
            )
        }
    }

    /// `floor((a - b) / 2)` per lane, as the scalar `((a as i32 - b as i32) >> 1) as i16`.
    #[inline(always)]
    fn half_diff(a: __m128i, b: __m128i) -> __m128i {
        // SAFETY: SSE2 intrinsics on values only.
        unsafe {
            // a = 2p + x, b = 2q + y: (a - b) >> 1 = p - q - (!x & y).
            let one = _mm_set1_epi16(1);
            let borrow = _mm_and_si128(_mm_andnot_si128(a, b), one);
            _mm_sub_epi16(
                _mm_sub_epi16(_mm_srai_epi16(a, 1), _mm_srai_epi16(b, 1)),
                borrow,
            )
        }
    }

    /// [`super::split_run`] on whole blocks of eight lanes from `from` up to `len`; returns where it stopped.
    pub(super) fn split(
        from: usize,
        len: usize,
        src: &[&[i16]; 6],
        dst: &mut [&mut [i16]; 4],
    ) -> usize {
        let end = from + (len - from) / BLOCK * BLOCK;
        // SAFETY: SSE2 intrinsics on values only.
        let (k, zero) = (scale_pairs(2), unsafe { _mm_setzero_si128() });
        for at in (from..end).step_by(BLOCK) {
            let (kr, ki, mr, mi) = (
                load(src[0], at),
                load(src[1], at),
                load(src[2], at),
                load(src[3], at),
            );
            let (wr, wi) = (load(src[4], at), load(src[5], at));
            // SAFETY: SSE2 intrinsics on values only.
            unsafe {
                let (fpkr, fpki) = (scale(kr, k), scale(ki, k));
                let (fpnkr, fpnki) = (scale(mr, k), scale(_mm_sub_epi16(zero, mi), k));
                let (f1r, f1i) = (_mm_add_epi16(fpkr, fpnkr), _mm_add_epi16(fpki, fpnki));
                let (f2r, f2i) = (_mm_sub_epi16(fpkr, fpnkr), _mm_sub_epi16(fpki, fpnki));
                let (twr, twi) = cmul(f2r, f2i, wr, wi);
                store(dst[0], at, half_sum(f1r, twr));
                store(dst[1], at, half_sum(f1i, twi));
                store(dst[2], at, half_diff(f1r, twr));
                store(dst[3], at, half_diff(twi, f1i));
            }
        }
        end
    }

    /// Inputs 0..4 of the eight lanes from `at` of a radix-4 stage with `c` classes.
    ///
    /// Lane `l = j c + k` reads input `q` at `(4 j + q) c + k`. With `c >= 8` each
    /// input is one load; with `c` = 4, 2 or 1 the 32 values from `4 at` hold
    /// `8 / c` rows of 4 runs of `c`, and a transpose of `c`-lane units sorts them by `q`.
    #[inline(always)]
    fn quad(v: &[i16], at: usize, c: usize) -> [__m128i; 4] {
        if c >= BLOCK {
            // c is a power of two: at = j c + k.
            let base = ((at >> c.trailing_zeros()) * 4) * c + (at & (c - 1));
            return [
                load(v, base),
                load(v, base + c),
                load(v, base + 2 * c),
                load(v, base + 3 * c),
            ];
        }
        let base = 4 * at;
        let r = [
            load(v, base),
            load(v, base + BLOCK),
            load(v, base + 2 * BLOCK),
            load(v, base + 3 * BLOCK),
        ];
        // SAFETY: SSE2 intrinsics on values only.
        unsafe {
            match c {
                4 => [
                    _mm_unpacklo_epi64(r[0], r[2]),
                    _mm_unpackhi_epi64(r[0], r[2]),
                    _mm_unpacklo_epi64(r[1], r[3]),
                    _mm_unpackhi_epi64(r[1], r[3]),
                ],
                2 => {
                    let t0 = _mm_unpacklo_epi32(r[0], r[1]);
                    let t1 = _mm_unpackhi_epi32(r[0], r[1]);
                    let t2 = _mm_unpacklo_epi32(r[2], r[3]);
                    let t3 = _mm_unpackhi_epi32(r[2], r[3]);
                    [
                        _mm_unpacklo_epi64(t0, t2),
                        _mm_unpackhi_epi64(t0, t2),
                        _mm_unpacklo_epi64(t1, t3),
                        _mm_unpackhi_epi64(t1, t3),
                    ]
                }
                _ => {
                    let sort = |x: __m128i, y: __m128i| {
                        let a = _mm_unpacklo_epi16(x, y);
                        let b = _mm_unpackhi_epi16(x, y);
                        (_mm_unpacklo_epi16(a, b), _mm_unpackhi_epi16(a, b))
                    };
                    let (c01, d01) = sort(r[0], r[1]);
                    let (c23, d23) = sort(r[2], r[3]);
                    [
                        _mm_unpacklo_epi64(c01, c23),
                        _mm_unpackhi_epi64(c01, c23),
                        _mm_unpacklo_epi64(d01, d23),
                        _mm_unpackhi_epi64(d01, d23),
                    ]
                }
            }
        }
    }

    /// Runs `st` on whole blocks of eight lanes from lane `from`; returns where it
    /// stopped (the rest are left to [`super::stage_lanes`]).
    pub(super) fn stage(
        st: &Stage,
        from: usize,
        src: (&[i16], &[i16]),
        dst: (&mut [i16], &mut [i16]),
    ) -> usize {
        let (c, lanes) = (st.c, st.m * st.c);
        let blocks = from + (lanes - from) / BLOCK * BLOCK;
        // Radix 2 is at most the one innermost stage; it runs lane by lane.
        if st.p != 4 {
            return from;
        }
        let k = scale_pairs(4);
        let (tw_re, tw_im) = (&st.tw_re, &st.tw_im);
        for at in (from..blocks).step_by(BLOCK) {
            let [x0r, x1r, x2r, x3r] = quad(src.0, at, c);
            let [x0i, x1i, x2i, x3i] = quad(src.1, at, c);
            let (x0r, x1r, x2r, x3r) = (scale(x0r, k), scale(x1r, k), scale(x2r, k), scale(x3r, k));
            let (x0i, x1i, x2i, x3i) = (scale(x0i, k), scale(x1i, k), scale(x2i, k), scale(x3i, k));
            let t = |q: usize| (load(&tw_re[q], at), load(&tw_im[q], at));
            let ((w1r, w1i), (w2r, w2i), (w3r, w3i)) = (t(0), t(1), t(2));
            let (s0r, s0i) = cmul(x1r, x1i, w1r, w1i);
            let (s1r, s1i) = cmul(x2r, x2i, w2r, w2i);
            let (s2r, s2i) = cmul(x3r, x3i, w3r, w3i);
            // SAFETY: SSE2 intrinsics on values only.
            unsafe {
                let (s5r, s5i) = (_mm_sub_epi16(x0r, s1r), _mm_sub_epi16(x0i, s1i));
                let (x0r, x0i) = (_mm_add_epi16(x0r, s1r), _mm_add_epi16(x0i, s1i));
                let (s3r, s3i) = (_mm_add_epi16(s0r, s2r), _mm_add_epi16(s0i, s2i));
                let (s4r, s4i) = (_mm_sub_epi16(s0r, s2r), _mm_sub_epi16(s0i, s2i));
                store(dst.0, at, _mm_add_epi16(x0r, s3r));
                store(dst.1, at, _mm_add_epi16(x0i, s3i));
                store(dst.0, lanes + at, _mm_add_epi16(s5r, s4i));
                store(dst.1, lanes + at, _mm_sub_epi16(s5i, s4r));
                store(dst.0, 2 * lanes + at, _mm_sub_epi16(x0r, s3r));
                store(dst.1, 2 * lanes + at, _mm_sub_epi16(x0i, s3i));
                store(dst.0, 3 * lanes + at, _mm_sub_epi16(s5r, s4i));
                store(dst.1, 3 * lanes + at, _mm_add_epi16(s5i, s4r));
            }
        }
        blocks
    }
}

/// AVX2 versions of the SSE2 kernels: the same instructions on 256-bit vectors, sixteen lanes.
///
/// AVX2's unpacks and packs act on each 128-bit half separately, so every
/// step of [`sse2`] carries over half by half: the low half of a vector
/// holds the eight lanes SSE2 would handle at `at`, the high half those at
/// `at + 8`. Callers check for AVX2 at run time ([`KissFftR16::new`]).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Stage, SAMP_MAX};
    use std::arch::x86_64::*;

    /// Lanes per AVX2 block.
    const WIDE: usize = 16;
    /// Lanes per 128-bit half.
    const HALF: usize = WIDE / 2;

    /// Sixteen lanes of `v` from `at`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn load(v: &[i16], at: usize) -> __m256i {
        let v: &[i16; WIDE] = v[at..at + WIDE].try_into().expect("16 lanes");
        // SAFETY: `v` is 32 readable bytes; the load is unaligned.
        unsafe { _mm256_loadu_si256(v.as_ptr().cast()) }
    }

    /// Eight lanes of `v` from `lo` in the low half and eight from `hi` in the high half.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn load2(v: &[i16], lo: usize, hi: usize) -> __m256i {
        let l: &[i16; HALF] = v[lo..lo + HALF].try_into().expect("8 lanes");
        let h: &[i16; HALF] = v[hi..hi + HALF].try_into().expect("8 lanes");
        // SAFETY: `l` and `h` are 16 readable bytes each; the loads are unaligned.
        unsafe { _mm256_loadu2_m128i(h.as_ptr().cast(), l.as_ptr().cast()) }
    }

    /// Stores sixteen lanes into `v` from `at`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn store(v: &mut [i16], at: usize, x: __m256i) {
        let v: &mut [i16; WIDE] = (&mut v[at..at + WIDE]).try_into().expect("16 lanes");
        // SAFETY: `v` is 32 writable bytes; the store is unaligned.
        unsafe { _mm256_storeu_si256(v.as_mut_ptr().cast(), x) }
    }

    /// `sround` of the i32 lanes of `lo` and `hi`, narrowed with wrap-around (as `sse2::round_pack`).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn round_pack(lo: __m256i, hi: __m256i) -> __m256i {
        let half = _mm256_set1_epi32(1 << 14);
        let lo = _mm256_srai_epi32(_mm256_slli_epi32(_mm256_add_epi32(lo, half), 1), 16);
        let hi = _mm256_srai_epi32(_mm256_slli_epi32(_mm256_add_epi32(hi, half), 1), 16);
        _mm256_packs_epi32(lo, hi)
    }

    /// `sround(x * k)` per lane; `kh` holds the pairs `(k, 2^14)` (as `sse2::scale`).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn scale(x: __m256i, kh: __m256i) -> __m256i {
        let one = _mm256_set1_epi16(1);
        let lo = _mm256_madd_epi16(_mm256_unpacklo_epi16(x, one), kh);
        let hi = _mm256_madd_epi16(_mm256_unpackhi_epi16(x, one), kh);
        _mm256_packs_epi32(_mm256_srai_epi32(lo, 15), _mm256_srai_epi32(hi, 15))
    }

    /// The `(k, 2^14)` pairs [`scale`] takes, for `k = 32767 / p`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn scale_pairs(p: i32) -> __m256i {
        _mm256_set1_epi32(((1 << 14) << 16) | (SAMP_MAX / p))
    }

    /// `(ar + i ai)(br + i bi)` per lane, each part rounded to Q15 (as `sse2::cmul`).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn cmul(ar: __m256i, ai: __m256i, br: __m256i, bi: __m256i) -> (__m256i, __m256i) {
        let (alo, ahi) = (_mm256_unpacklo_epi16(ar, ai), _mm256_unpackhi_epi16(ar, ai));
        // Twiddle parts lie in -32767..=32767, so negating bi cannot wrap.
        let nbi = _mm256_sub_epi16(_mm256_setzero_si256(), bi);
        let (rlo, rhi) = (
            _mm256_unpacklo_epi16(br, nbi),
            _mm256_unpackhi_epi16(br, nbi),
        );
        let (ilo, ihi) = (_mm256_unpacklo_epi16(bi, br), _mm256_unpackhi_epi16(bi, br));
        (
            round_pack(_mm256_madd_epi16(alo, rlo), _mm256_madd_epi16(ahi, rhi)),
            round_pack(_mm256_madd_epi16(alo, ilo), _mm256_madd_epi16(ahi, ihi)),
        )
    }

    /// `floor((a + b) / 2)` per lane (as `sse2::half_sum`).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn half_sum(a: __m256i, b: __m256i) -> __m256i {
        let carry = _mm256_and_si256(_mm256_and_si256(a, b), _mm256_set1_epi16(1));
        _mm256_add_epi16(
            _mm256_add_epi16(_mm256_srai_epi16(a, 1), _mm256_srai_epi16(b, 1)),
            carry,
        )
    }

    /// `floor((a - b) / 2)` per lane (as `sse2::half_diff`).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn half_diff(a: __m256i, b: __m256i) -> __m256i {
        let borrow = _mm256_and_si256(_mm256_andnot_si256(a, b), _mm256_set1_epi16(1));
        _mm256_sub_epi16(
            _mm256_sub_epi16(_mm256_srai_epi16(a, 1), _mm256_srai_epi16(b, 1)),
            borrow,
        )
    }

    /// [`super::split_run`] on whole blocks of sixteen lanes below `len`; returns how many lanes it did.
    #[target_feature(enable = "avx2")]
    pub(super) fn split(len: usize, src: &[&[i16]; 6], dst: &mut [&mut [i16]; 4]) -> usize {
        let end = len / WIDE * WIDE;
        let (k, zero) = (scale_pairs(2), _mm256_setzero_si256());
        for at in (0..end).step_by(WIDE) {
            let (kr, ki) = (load(src[0], at), load(src[1], at));
            let (mr, mi) = (load(src[2], at), load(src[3], at));
            let (wr, wi) = (load(src[4], at), load(src[5], at));
            let (fpkr, fpki) = (scale(kr, k), scale(ki, k));
            let (fpnkr, fpnki) = (scale(mr, k), scale(_mm256_sub_epi16(zero, mi), k));
            let (f1r, f1i) = (_mm256_add_epi16(fpkr, fpnkr), _mm256_add_epi16(fpki, fpnki));
            let (f2r, f2i) = (_mm256_sub_epi16(fpkr, fpnkr), _mm256_sub_epi16(fpki, fpnki));
            let (twr, twi) = cmul(f2r, f2i, wr, wi);
            store(dst[0], at, half_sum(f1r, twr));
            store(dst[1], at, half_sum(f1i, twi));
            store(dst[2], at, half_diff(f1r, twr));
            store(dst[3], at, half_diff(twi, f1i));
        }
        end
    }

    /// Inputs 0..4 of the sixteen lanes from `at` of a radix-4 stage with `c` classes.
    ///
    /// Lane `l = j c + k` reads input `q` at `(4 j + q) c + k`. With `c >= 16`
    /// each input is one load from `base = 4 j c + k`; with `c = 8` it is two
    /// runs of eight, 32 apart; with `c` = 4, 2 or 1 each half transposes its
    /// own 32 values as `sse2::quad` does.
    /// (A macro: as a function the compiler keeps it out of line, and its vectors go through memory.)
    macro_rules! quad {
        ($v:expr, $at:expr, $base:expr, $c:expr) => {{
            let (v, at, base, c): (&[i16], usize, usize, usize) = ($v, $at, $base, $c);
            let r: [__m256i; 4] = 'quad: {
                if c >= WIDE {
                    break 'quad [
                        load(v, base),
                        load(v, base + c),
                        load(v, base + 2 * c),
                        load(v, base + 3 * c),
                    ];
                }
                let base = 4 * at;
                let (hi, step) = (base + 4 * HALF, HALF);
                if c == HALF {
                    break 'quad [
                        load2(v, base, hi),
                        load2(v, base + step, hi + step),
                        load2(v, base + 2 * step, hi + 2 * step),
                        load2(v, base + 3 * step, hi + 3 * step),
                    ];
                }
                let r = [
                    load2(v, base, hi),
                    load2(v, base + step, hi + step),
                    load2(v, base + 2 * step, hi + 2 * step),
                    load2(v, base + 3 * step, hi + 3 * step),
                ];
                match c {
                    4 => [
                        _mm256_unpacklo_epi64(r[0], r[2]),
                        _mm256_unpackhi_epi64(r[0], r[2]),
                        _mm256_unpacklo_epi64(r[1], r[3]),
                        _mm256_unpackhi_epi64(r[1], r[3]),
                    ],
                    2 => {
                        let t0 = _mm256_unpacklo_epi32(r[0], r[1]);
                        let t1 = _mm256_unpackhi_epi32(r[0], r[1]);
                        let t2 = _mm256_unpacklo_epi32(r[2], r[3]);
                        let t3 = _mm256_unpackhi_epi32(r[2], r[3]);
                        [
                            _mm256_unpacklo_epi64(t0, t2),
                            _mm256_unpackhi_epi64(t0, t2),
                            _mm256_unpacklo_epi64(t1, t3),
                            _mm256_unpackhi_epi64(t1, t3),
                        ]
                    }
                    _ => {
                        let sort = |x: __m256i, y: __m256i| {
                            let a = _mm256_unpacklo_epi16(x, y);
                            let b = _mm256_unpackhi_epi16(x, y);
                            (_mm256_unpacklo_epi16(a, b), _mm256_unpackhi_epi16(a, b))
                        };
                        let (c01, d01) = sort(r[0], r[1]);
                        let (c23, d23) = sort(r[2], r[3]);
                        [
                            _mm256_unpacklo_epi64(c01, c23),
                            _mm256_unpackhi_epi64(c01, c23),
                            _mm256_unpacklo_epi64(d01, d23),
                            _mm256_unpackhi_epi64(d01, d23),
                        ]
                    }
                }
            };
            r
        }};
    }

    /// One block of sixteen radix-4 butterflies: lanes from `at`, inputs from `base` (see `quad!`).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn block(
        st: &Stage,
        at: usize,
        base: usize,
        src: (&[i16], &[i16]),
        dst: (&mut [i16], &mut [i16]),
    ) {
        let (c, lanes) = (st.c, st.m * st.c);
        let k = scale_pairs(4);
        let [x0r, x1r, x2r, x3r] = quad!(src.0, at, base, c);
        let [x0i, x1i, x2i, x3i] = quad!(src.1, at, base, c);
        let (x0r, x1r, x2r, x3r) = (scale(x0r, k), scale(x1r, k), scale(x2r, k), scale(x3r, k));
        let (x0i, x1i, x2i, x3i) = (scale(x0i, k), scale(x1i, k), scale(x2i, k), scale(x3i, k));
        let t = |q: usize| (load(&st.tw_re[q], at), load(&st.tw_im[q], at));
        let ((w1r, w1i), (w2r, w2i), (w3r, w3i)) = (t(0), t(1), t(2));
        let (s0r, s0i) = cmul(x1r, x1i, w1r, w1i);
        let (s1r, s1i) = cmul(x2r, x2i, w2r, w2i);
        let (s2r, s2i) = cmul(x3r, x3i, w3r, w3i);
        let (s5r, s5i) = (_mm256_sub_epi16(x0r, s1r), _mm256_sub_epi16(x0i, s1i));
        let (x0r, x0i) = (_mm256_add_epi16(x0r, s1r), _mm256_add_epi16(x0i, s1i));
        let (s3r, s3i) = (_mm256_add_epi16(s0r, s2r), _mm256_add_epi16(s0i, s2i));
        let (s4r, s4i) = (_mm256_sub_epi16(s0r, s2r), _mm256_sub_epi16(s0i, s2i));
        store(dst.0, at, _mm256_add_epi16(x0r, s3r));
        store(dst.1, at, _mm256_add_epi16(x0i, s3i));
        store(dst.0, lanes + at, _mm256_add_epi16(s5r, s4i));
        store(dst.1, lanes + at, _mm256_sub_epi16(s5i, s4r));
        store(dst.0, 2 * lanes + at, _mm256_sub_epi16(x0r, s3r));
        store(dst.1, 2 * lanes + at, _mm256_sub_epi16(x0i, s3i));
        store(dst.0, 3 * lanes + at, _mm256_sub_epi16(s5r, s4i));
        store(dst.1, 3 * lanes + at, _mm256_add_epi16(s5i, s4r));
    }

    /// Runs a radix-4 `st` on whole blocks of sixteen lanes; returns how many lanes
    /// it did (the rest are left to `sse2::stage` and [`super::stage_lanes`]).
    #[target_feature(enable = "avx2")]
    pub(super) fn stage(st: &Stage, src: (&[i16], &[i16]), dst: (&mut [i16], &mut [i16])) -> usize {
        let (c, lanes) = (st.c, st.m * st.c);
        if st.p != 4 {
            return 0;
        }
        let end = lanes / WIDE * WIDE;
        // c is a power of two; lane l = j c + k reads from 4 j c + k, which is 4 l when c < 16.
        let (shift, mask) = (c.trailing_zeros(), c - 1);
        for at in (0..end).step_by(WIDE) {
            let base = if c >= WIDE {
                4 * (at >> shift) * c + (at & mask)
            } else {
                4 * at
            };
            block(st, at, base, (src.0, src.1), (&mut *dst.0, &mut *dst.1));
        }
        end
    }
}

/// `L` lanes of the real split from `at`: `src` is (tmp[k], tmp[n - k], super twiddle), each
/// real then imaginary; writes bins `k` and `n - k` (real, imaginary) to `dst`.
#[inline(always)]
fn split_run<const L: usize>(at: usize, src: &[&[i16]; 6], dst: &mut [&mut [i16]; 4]) {
    let [kr, ki, mr, mi, wr, wi] = src.map(|v| load::<L>(v, at));
    let mut y = [[0i16; L]; 4];
    let half = |v: i16| sround(v as i32 * (SAMP_MAX / 2));
    for j in 0..L {
        let (fpkr, fpki) = (half(kr[j]), half(ki[j]));
        let (fpnkr, fpnki) = (half(mr[j]), half(mi[j].wrapping_neg()));
        let (f1r, f1i) = (fpkr.wrapping_add(fpnkr), fpki.wrapping_add(fpnki));
        let (f2r, f2i) = (fpkr.wrapping_sub(fpnkr), fpki.wrapping_sub(fpnki));
        let (twr, twi) = cmul_parts(f2r, f2i, wr[j], wi[j]);
        let (f1r, f1i, twr, twi) = (f1r as i32, f1i as i32, twr as i32, twi as i32);
        y[0][j] = ((f1r + twr) >> 1) as i16;
        y[1][j] = ((f1i + twi) >> 1) as i16;
        y[2][j] = ((f1r - twr) >> 1) as i16;
        y[3][j] = ((twi - f1i) >> 1) as i16;
    }
    for (d, y) in dst.iter_mut().zip(&y) {
        d[at..at + L].copy_from_slice(y);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q15_rounding_helpers() {
        // 20000 * 32767 / 32768 = 19999.39 -> 19999: multiplying by "one" loses a bit.
        assert_eq!(sround(20000 * 32767), 19999);
        // -1 * 32767 = -32767; (-32767 + 16384) >> 15 = -1 (floor).
        assert_eq!(sround(-32767), -1);
        // 1000 / 4 with 8191/32768: 1000 * 8191 = 8191000 -> 249.97 -> 250.
        assert_eq!(sround(1000 * (SAMP_MAX / 4)), 250);
        assert_eq!(sround(-1000 * (SAMP_MAX / 4)), -250);
    }

    #[test]
    fn twiddles_are_rounded_q15() {
        let f = KissFftR16::new(16).unwrap();
        // Stages innermost first: the radix 2 (m = 1, stride 4), then the radix 4 (m = 2, stride 1).
        let stages: Vec<_> = f.plan.iter().map(|s| (s.p, s.m, s.c)).collect();
        assert_eq!(stages, vec![(2, 1, 4), (4, 2, 1)]);
        // ncfft = 8, W = exp(-2 pi i / 8). The radix 4's lanes j = 0, 1 use W^(t j):
        // W^0 = (32767, 0); W^1: 32767 * 0.70711 = 23169.77 -> (23170, -23170);
        // W^2 = (0, -32767); W^3 = (-23170, -23170).
        let s = &f.plan[1];
        assert_eq!(
            (s.tw_re[0].clone(), s.tw_im[0].clone()),
            (vec![32767, 23170], vec![0, -23170])
        );
        assert_eq!(
            (s.tw_re[1].clone(), s.tw_im[1].clone()),
            (vec![32767, 0], vec![0, -32767])
        );
        assert_eq!(
            (s.tw_re[2].clone(), s.tw_im[2].clone()),
            (vec![32767, -23170], vec![0, -23170])
        );
        // The radix 2's four lanes (j = 0, four classes) all use W^0.
        assert_eq!(f.plan[0].tw_re[0], vec![32767; 4]);
    }

    #[test]
    fn impulse_and_dc() {
        // An impulse of 16384 at t=0 in an 8-point real FFT: every bin is
        // 16384 / 8 = 2048 after the three halvings (4 in the inner FFT... see below).
        // Inner complex FFT of size 4 (one radix-4 stage) divides by 4 (with
        // 8191/32768 ~ 1/4.0001: 16384 * 8191 / 32768 = 4095.5 -> 4096),
        // then the real split halves twice more: 4096/2 = 2048 (16383/32768:
        // 4096 * 16383 / 32768 = 2047.875 -> 2048), sum of re and im halves.
        let mut f = KissFftR16::new(8).unwrap();
        let mut x = [0i16; 8];
        x[0] = 16384;
        let mut y = [Cpx16::default(); 5];
        f.process(&x, &mut y);
        // DC: tdc = (2048, 0) -> 2048 + 0; Nyquist 2048 - 0.
        assert_eq!(y[0], Cpx16 { r: 2048, i: 0 });
        assert_eq!(y[4], Cpx16 { r: 2048, i: 0 });
        for b in &y[1..4] {
            // Flat spectrum, up to one LSB of fixed-point rounding.
            assert!((b.r as i32 - 2048).abs() <= 1 && b.i.abs() <= 1, "{b:?}");
        }
        // A constant 8000: only DC survives, 8 * 8000 / 8 = 8000 (give or take rounding).
        let x = [8000i16; 8];
        f.process(&x, &mut y);
        assert!((y[0].r as i32 - 8000).abs() <= 2, "{:?}", y[0]);
        for b in &y[1..] {
            assert!(b.r.abs() <= 1 && b.i.abs() <= 1, "{b:?}");
        }
    }

    #[test]
    fn rejects_bad_sizes() {
        assert!(KissFftR16::new(12).is_none());
        assert!(KissFftR16::new(2).is_none());
        assert_eq!(KissFftR16::new(512).unwrap().plan.len(), 4);
    }

    #[test]
    fn close_to_the_exact_dft_but_not_equal_to_it_rounded() {
        // rustfft in f64 is the exact DFT here; KISS FFT's Q15 result is DFT / n
        // with per-stage rounding. Windowed full-scale noise, 512 points.
        use rustfft::num_complex::Complex64;
        let n = 512;
        let mut f = KissFftR16::new(n).unwrap();
        let plan = rustfft::FftPlanner::<f64>::new().plan_fft_forward(n);
        let mut s = 0x1234_5678_9abc_def0u64;
        let (mut differ, mut worst, mut bins) = (0, 0.0f64, 0);
        for _ in 0..20 {
            let x: Vec<i16> = (0..n)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    (s >> 48) as i16
                })
                .collect();
            let mut y = vec![Cpx16::default(); n / 2 + 1];
            f.process(&x, &mut y);
            let mut z: Vec<Complex64> = x.iter().map(|&v| Complex64::new(v as f64, 0.0)).collect();
            plan.process(&mut z);
            for (a, b) in y.iter().zip(&z) {
                let (er, ei) = (b.re / n as f64, b.im / n as f64);
                worst = worst
                    .max((a.r as f64 - er).abs())
                    .max((a.i as f64 - ei).abs());
                differ += usize::from(a.r as f64 != er.round() || a.i as f64 != ei.round());
                bins += 1;
            }
        }
        // Within a few LSB of the exact DFT / 512 ...
        assert!(worst < 4.0, "worst {worst}");
        // ... yet most bins differ from it rounded: a float FFT cannot stand in for it.
        assert!(differ * 2 > bins, "{differ} of {bins} bins differ");
        eprintln!(
            "kiss int16 vs round(DFT / 512): {differ} of {bins} bins differ, worst {worst:.2} LSB"
        );
    }
}
