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

/// `a * b`, each part rounded to Q15.
#[inline(always)]
fn cmul(a: Cpx16, b: Cpx16) -> Cpx16 {
    let (ar, ai, br, bi) = (a.r as i32, a.i as i32, b.r as i32, b.i as i32);
    Cpx16 {
        r: sround((ar * br).wrapping_sub(ai * bi)),
        i: sround((ar * bi).wrapping_add(ai * br)),
    }
}

/// Divides both parts by `p` the fixed-point way: multiply by `32767 / p`, round.
#[inline(always)]
fn fixdiv(c: Cpx16, p: i32) -> Cpx16 {
    let k = SAMP_MAX / p;
    Cpx16 {
        r: sround(c.r as i32 * k),
        i: sround(c.i as i32 * k),
    }
}

#[inline(always)]
fn add(a: Cpx16, b: Cpx16) -> Cpx16 {
    Cpx16 {
        r: a.r.wrapping_add(b.r),
        i: a.i.wrapping_add(b.i),
    }
}

#[inline(always)]
fn sub(a: Cpx16, b: Cpx16) -> Cpx16 {
    Cpx16 {
        r: a.r.wrapping_sub(b.r),
        i: a.i.wrapping_sub(b.i),
    }
}

/// `round(32767 * (cos, sin)(phase))`, as KISS FFT's fixed-point `kf_cexp`.
fn cexp_q15(phase: f64) -> Cpx16 {
    let q = |v: f64| (0.5 + SAMP_MAX as f64 * v).floor() as i16;
    Cpx16 {
        r: q(phase.cos()),
        i: q(phase.sin()),
    }
}

/// Real and imaginary parts of the operands of one butterfly position.
type Parts<'a> = (&'a [i16], &'a [i16]);

/// Lanes per block of [`butterfly4_lanes`] and [`butterfly2_lanes`]: one 128-bit vector of i16.
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

/// Radix-4 butterflies (`kf_bfly4`, forward) on `n` independent lanes, out of place.
///
/// `src[q]` holds input `q` of every lane, `w[t]` the twiddle of input `t + 1`
/// per lane, and `dst[q]` receives output `q`; runs [`butterfly4_block`] on
/// blocks of [`BLOCK`] lanes, then lane by lane.
#[inline(always)]
fn butterfly4_lanes(src: [Parts; 4], w: [Parts; 3], dst_re: [&mut [i16]; 4], dst_im: [&mut [i16]; 4]) {
    #[inline(always)]
    fn run<const L: usize>(
        at: usize,
        src: &[Parts; 4],
        w: &[Parts; 3],
        dst_re: &mut [&mut [i16]; 4],
        dst_im: &mut [&mut [i16]; 4],
    ) {
        let x = [
            load::<L>(src[0].0, at),
            load::<L>(src[0].1, at),
            load::<L>(src[1].0, at),
            load::<L>(src[1].1, at),
            load::<L>(src[2].0, at),
            load::<L>(src[2].1, at),
            load::<L>(src[3].0, at),
            load::<L>(src[3].1, at),
        ];
        let t = [
            load::<L>(w[0].0, at),
            load::<L>(w[0].1, at),
            load::<L>(w[1].0, at),
            load::<L>(w[1].1, at),
            load::<L>(w[2].0, at),
            load::<L>(w[2].1, at),
        ];
        let y = butterfly4_block::<L>(x, t);
        dst_re[0][at..at + L].copy_from_slice(&y[0]);
        dst_im[0][at..at + L].copy_from_slice(&y[1]);
        dst_re[1][at..at + L].copy_from_slice(&y[2]);
        dst_im[1][at..at + L].copy_from_slice(&y[3]);
        dst_re[2][at..at + L].copy_from_slice(&y[4]);
        dst_im[2][at..at + L].copy_from_slice(&y[5]);
        dst_re[3][at..at + L].copy_from_slice(&y[6]);
        dst_im[3][at..at + L].copy_from_slice(&y[7]);
    }
    let (mut dst_re, mut dst_im) = (dst_re, dst_im);
    let n = src[0].0.len();
    let blocks = n / BLOCK * BLOCK;
    #[cfg(target_arch = "x86_64")]
    sse2::butterfly4(blocks, &src, &w, &mut dst_re, &mut dst_im);
    #[cfg(not(target_arch = "x86_64"))]
    for at in (0..blocks).step_by(BLOCK) {
        run::<BLOCK>(at, &src, &w, &mut dst_re, &mut dst_im);
    }
    for at in blocks..n {
        run::<1>(at, &src, &w, &mut dst_re, &mut dst_im);
    }
}

/// Radix-2 butterflies (`kf_bfly2`, forward) on `n` independent lanes, out of place.
#[inline(always)]
fn butterfly2_lanes(src: [Parts; 2], w: Parts, dst_re: [&mut [i16]; 2], dst_im: [&mut [i16]; 2]) {
    #[inline(always)]
    fn run<const L: usize>(
        at: usize,
        src: &[Parts; 2],
        w: Parts,
        dst_re: &mut [&mut [i16]; 2],
        dst_im: &mut [&mut [i16]; 2],
    ) {
        let x = [
            load::<L>(src[0].0, at),
            load::<L>(src[0].1, at),
            load::<L>(src[1].0, at),
            load::<L>(src[1].1, at),
        ];
        let y = butterfly2_block::<L>(x, [load::<L>(w.0, at), load::<L>(w.1, at)]);
        dst_re[0][at..at + L].copy_from_slice(&y[0]);
        dst_im[0][at..at + L].copy_from_slice(&y[1]);
        dst_re[1][at..at + L].copy_from_slice(&y[2]);
        dst_im[1][at..at + L].copy_from_slice(&y[3]);
    }
    let (mut dst_re, mut dst_im) = (dst_re, dst_im);
    let n = src[0].0.len();
    let blocks = n / BLOCK * BLOCK;
    for at in (0..blocks).step_by(BLOCK) {
        run::<BLOCK>(at, &src, w, &mut dst_re, &mut dst_im);
    }
    for at in blocks..n {
        run::<1>(at, &src, w, &mut dst_re, &mut dst_im);
    }
}

/// `(ar + i ai)(br + i bi)`, each part rounded to Q15 ([`cmul`] on split parts).
#[inline(always)]
fn cmul_parts(ar: i16, ai: i16, br: i16, bi: i16) -> (i16, i16) {
    let (ar, ai, br, bi) = (ar as i32, ai as i32, br as i32, bi as i32);
    (
        sround((ar * br).wrapping_sub(ai * bi)),
        sround((ar * bi).wrapping_add(ai * br)),
    )
}

/// Where a stage keeps its operands, and so which index its lanes run over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Stockham order: element `k` of the sub-transform of input class `c`
    /// (inputs `c + t C`, `C = ncfft / (p m)`) at `k C + c`; lanes run over `c`.
    /// Suits the early stages, where `C` is large.
    Stockham,
    /// KISS FFT's own order: group `g`'s sub-transform at `g p m + k`; lanes run over `k < m`.
    /// Suits the late stages, where `m` is large.
    Kiss,
}

/// One planned stage: KISS's butterflies of radix `p` on sub-length `m`, and its lane-wise twiddles.
#[derive(Debug, Clone)]
struct Stage {
    p: usize,
    m: usize,
    layout: Layout,
    /// For `t = 1..p`: real and imaginary parts of `W^(t j ncfft / (p m))`, one per lane in the
    /// layout's order (`j` repeated `C` times for Stockham, `j = 0..m` for KISS).
    tw_re: Vec<Vec<i16>>,
    tw_im: Vec<Vec<i16>>,
}

/// A forward real FFT of `n` int16 samples (n a power of two, at least 4) in Q15 fixed point.
///
/// The butterflies, their operands, twiddles and rounding are exactly KISS
/// FFT's; only where the operands sit in memory differs. Real and imaginary
/// parts are kept in separate arrays, and every stage runs its butterflies
/// lane-wise over contiguous runs so that the compiler vectorises them: the
/// early stages (few long sub-transforms per class) in Stockham order, the
/// late ones in KISS's order, with one permutation between the two.
#[derive(Debug, Clone)]
pub struct KissFftR16 {
    /// Size of the inner complex FFT (`n / 2`).
    ncfft: usize,
    /// `exp(-2 pi i k / ncfft)` in Q15.
    twiddles: Vec<Cpx16>,
    /// `exp(-i pi ((k + 1) / ncfft + 1/2))` in Q15, for splitting the packed result.
    super_twiddles: Vec<Cpx16>,
    /// Real and imaginary parts of `super_twiddles`.
    super_re: Vec<i16>,
    super_im: Vec<i16>,
    /// Stages innermost first: (radix p, sub-length m, twiddle stride).
    stages: Vec<(usize, usize, usize)>,
    /// The stages as run, innermost first.
    plan: Vec<Stage>,
    /// From Stockham to KISS order after the last Stockham stage: KISS position `i` takes
    /// Stockham position `to_kiss[i]`.
    to_kiss: Vec<u32>,
    /// Ping-pong work arrays of the inner FFT (real, imaginary).
    a: (Vec<i16>, Vec<i16>),
    b: (Vec<i16>, Vec<i16>),
    /// The real split's scratch: mirrored inputs and the upper half's outputs.
    mirror: (Vec<i16>, Vec<i16>),
    upper: (Vec<i16>, Vec<i16>),
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
        // leaves read the input in a mixed-radix digit-reversed order, and the
        // butterflies run innermost stage first, each group independently.
        let mut perm = vec![0usize; ncfft];
        Self::leaf_order(&radices, 0, 0, 1, &mut perm);
        let mut stages = Vec::new();
        let mut fstride = 1;
        let mut m = ncfft;
        for &p in &radices {
            m /= p;
            stages.push((p, m, fstride));
            fstride *= p;
        }
        stages.reverse();
        // Stockham while its lanes (classes, C = fstride) are at least as many as KISS's (m).
        let plan: Vec<Stage> = stages
            .iter()
            .map(|&(p, m, fstride)| {
                let layout = if fstride >= m {
                    Layout::Stockham
                } else {
                    Layout::Kiss
                };
                let per_lane = |t: usize, part: fn(Cpx16) -> i16| -> Vec<i16> {
                    let w = |j: usize| part(twiddles[t * j * fstride]);
                    match layout {
                        Layout::Stockham => (0..m * fstride).map(|i| w(i / fstride)).collect(),
                        Layout::Kiss => (0..m).map(w).collect(),
                    }
                };
                Stage {
                    p,
                    m,
                    layout,
                    tw_re: (1..p).map(|t| per_lane(t, |c| c.r)).collect(),
                    tw_im: (1..p).map(|t| per_lane(t, |c| c.i)).collect(),
                }
            })
            .collect();
        // After the last Stockham stage (sub-length L = p m, C = ncfft / L classes), class c's
        // sub-transform is KISS's group g with perm[g L] = c.
        let mut to_kiss = Vec::new();
        if let Some(last) = plan.iter().rposition(|s| s.layout == Layout::Stockham) {
            if last + 1 < plan.len() {
                let l = plan[last].p * plan[last].m;
                let classes = ncfft / l;
                to_kiss = vec![0; ncfft];
                for g in 0..classes {
                    let c = perm[g * l];
                    for k in 0..l {
                        to_kiss[g * l + k] = (k * classes + c) as u32;
                    }
                }
            }
        }
        let zeros = || (vec![0i16; ncfft], vec![0i16; ncfft]);
        let half = || (vec![0i16; ncfft / 2 + 1], vec![0i16; ncfft / 2 + 1]);
        Some(KissFftR16 {
            ncfft,
            stages,
            plan,
            to_kiss,
            twiddles,
            super_re: super_twiddles.iter().map(|c| c.r).collect(),
            super_im: super_twiddles.iter().map(|c| c.i).collect(),
            super_twiddles,
            a: zeros(),
            b: zeros(),
            mirror: half(),
            upper: half(),
        })
    }

    /// The real FFT size.
    pub fn len(&self) -> usize {
        2 * self.ncfft
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
        let blocks = h / BLOCK * BLOCK;
        #[cfg(target_arch = "x86_64")]
        sse2::split(blocks, &src, &mut dst);
        #[cfg(not(target_arch = "x86_64"))]
        for at in (0..blocks).step_by(BLOCK) {
            split_run::<BLOCK>(at, &src, &mut dst);
        }
        for at in blocks..h {
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

    /// Fills `out` with the input index each leaf position reads (`kf_work`'s recursion).
    fn leaf_order(radices: &[usize], stage: usize, first: usize, stride: usize, out: &mut [usize]) {
        let p = radices[stage];
        let m = out.len() / p;
        if m == 1 {
            for (k, o) in out.iter_mut().enumerate() {
                *o = first + k * stride;
            }
        } else {
            for (k, chunk) in out.chunks_exact_mut(m).enumerate() {
                Self::leaf_order(radices, stage + 1, first + k * stride, stride * p, chunk);
            }
        }
    }

    /// The inner complex FFT (`kiss_fft` on `ncfft` points) of `a`, result in `a`, natural order.
    fn work(&mut self) {
        let n = self.ncfft;
        for (s, st) in self.plan.iter().enumerate() {
            let (src, dst) = (&self.a, &mut self.b);
            let (p, m) = (st.p, st.m);
            let tw = |t: usize| -> Parts { (&st.tw_re[t][..], &st.tw_im[t][..]) };
            match st.layout {
                Layout::Stockham => {
                    // Butterfly j, input q of class c: src (j p + q) C + c; output q: dst (j + q m) C + c.
                    let c = n / (p * m);
                    for j in 0..m {
                        let w = |t: usize| {
                            let (r, i) = tw(t);
                            (&r[j * c..][..c], &i[j * c..][..c])
                        };
                        let sp = |q: usize| {
                            let at = (j * p + q) * c;
                            (&src.0[at..at + c], &src.1[at..at + c])
                        };
                        let (dr, di) = (&mut dst.0[..], &mut dst.1[..]);
                        if p == 4 {
                            let dre = blocks4(dr, j, m, c);
                            let dim = blocks4(di, j, m, c);
                            butterfly4_lanes([sp(0), sp(1), sp(2), sp(3)], [w(0), w(1), w(2)], dre, dim);
                        } else {
                            let dre = blocks2(dr, j, m, c);
                            let dim = blocks2(di, j, m, c);
                            butterfly2_lanes([sp(0), sp(1)], w(0), dre, dim);
                        }
                    }
                }
                Layout::Kiss => {
                    let w = tw;
                    let groups = src
                        .0
                        .chunks_exact(p * m)
                        .zip(src.1.chunks_exact(p * m))
                        .zip(dst.0.chunks_exact_mut(p * m).zip(dst.1.chunks_exact_mut(p * m)));
                    for ((sr, si), (dr, di)) in groups {
                        let sp = |q: usize| (&sr[q * m..][..m], &si[q * m..][..m]);
                        if p == 4 {
                            let dre = blocks4(dr, 0, 1, m);
                            let dim = blocks4(di, 0, 1, m);
                            butterfly4_lanes([sp(0), sp(1), sp(2), sp(3)], [w(0), w(1), w(2)], dre, dim);
                        } else {
                            let dre = blocks2(dr, 0, 1, m);
                            let dim = blocks2(di, 0, 1, m);
                            butterfly2_lanes([sp(0), sp(1)], w(0), dre, dim);
                        }
                    }
                }
            }
            std::mem::swap(&mut self.a, &mut self.b);
            let switch = st.layout == Layout::Stockham
                && self.plan.get(s + 1).is_some_and(|x| x.layout == Layout::Kiss);
            if switch {
                let (ar, ai) = (&self.a.0[..n], &self.a.1[..n]);
                for ((dr, di), &from) in self
                    .b
                    .0
                    .iter_mut()
                    .zip(self.b.1.iter_mut())
                    .zip(&self.to_kiss)
                {
                    *dr = ar[from as usize];
                    *di = ai[from as usize];
                }
                std::mem::swap(&mut self.a, &mut self.b);
            }
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
    use super::{Parts, BLOCK, SAMP_MAX};
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

    /// [`super::split_run`] on lanes `0..blocks` (a multiple of 8).
    pub(super) fn split(blocks: usize, src: &[&[i16]; 6], dst: &mut [&mut [i16]; 4]) {
        // SAFETY: SSE2 intrinsics on values only.
        let (k, zero) = (scale_pairs(2), unsafe { _mm_setzero_si128() });
        for at in (0..blocks).step_by(BLOCK) {
            let [kr, ki, mr, mi, wr, wi] = src.map(|v| load(v, at));
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
    }

    /// [`super::butterfly4_lanes`] on lanes `0..blocks` (a multiple of 8).
    pub(super) fn butterfly4(
        blocks: usize,
        src: &[Parts; 4],
        w: &[Parts; 3],
        dst_re: &mut [&mut [i16]; 4],
        dst_im: &mut [&mut [i16]; 4],
    ) {
        // SAFETY: SSE2 intrinsics on values only.
        let k = scale_pairs(4);
        for at in (0..blocks).step_by(BLOCK) {
            let l = |q: usize| (scale(load(src[q].0, at), k), scale(load(src[q].1, at), k));
            let t = |q: usize| (load(w[q].0, at), load(w[q].1, at));
            let (x0r, x0i) = l(0);
            let ((br, bi), (w1r, w1i)) = (l(1), t(0));
            let ((cr, ci), (w2r, w2i)) = (l(2), t(1));
            let ((dr, di), (w3r, w3i)) = (l(3), t(2));
            let (s0r, s0i) = cmul(br, bi, w1r, w1i);
            let (s1r, s1i) = cmul(cr, ci, w2r, w2i);
            let (s2r, s2i) = cmul(dr, di, w3r, w3i);
            // SAFETY: SSE2 intrinsics on values only.
            unsafe {
                let (s5r, s5i) = (_mm_sub_epi16(x0r, s1r), _mm_sub_epi16(x0i, s1i));
                let (x0r, x0i) = (_mm_add_epi16(x0r, s1r), _mm_add_epi16(x0i, s1i));
                let (s3r, s3i) = (_mm_add_epi16(s0r, s2r), _mm_add_epi16(s0i, s2i));
                let (s4r, s4i) = (_mm_sub_epi16(s0r, s2r), _mm_sub_epi16(s0i, s2i));
                store(dst_re[0], at, _mm_add_epi16(x0r, s3r));
                store(dst_im[0], at, _mm_add_epi16(x0i, s3i));
                store(dst_re[1], at, _mm_add_epi16(s5r, s4i));
                store(dst_im[1], at, _mm_sub_epi16(s5i, s4r));
                store(dst_re[2], at, _mm_sub_epi16(x0r, s3r));
                store(dst_im[2], at, _mm_sub_epi16(x0i, s3i));
                store(dst_re[3], at, _mm_sub_epi16(s5r, s4i));
                store(dst_im[3], at, _mm_add_epi16(s5i, s4r));
            }
        }
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

/// The `len`-long blocks `j + q stride` (q = 0..4) of `v`, in units of `len`.
#[inline(always)]
fn blocks4(v: &mut [i16], j: usize, stride: usize, len: usize) -> [&mut [i16]; 4] {
    let (lo, hi) = v.split_at_mut((j + 2 * stride) * len);
    let (b0, b1) = lo[j * len..].split_at_mut(stride * len);
    let (b2, b3) = hi.split_at_mut(stride * len);
    [&mut b0[..len], &mut b1[..len], &mut b2[..len], &mut b3[..len]]
}

/// The `len`-long blocks `j` and `j + stride` of `v`, in units of `len`.
#[inline(always)]
fn blocks2(v: &mut [i16], j: usize, stride: usize, len: usize) -> [&mut [i16]; 2] {
    let (b0, b1) = v[j * len..].split_at_mut(stride * len);
    [&mut b0[..len], &mut b1[..len]]
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
        assert_eq!(
            fixdiv(Cpx16 { r: 1000, i: -1000 }, 4),
            Cpx16 { r: 250, i: -250 }
        );
    }

    #[test]
    fn twiddles_are_rounded_q15() {
        let f = KissFftR16::new(16).unwrap();
        // ncfft = 8: k = 0 -> (32767, 0); k = 2 -> angle -pi/2 -> (0, -32767);
        // k = 1 -> angle -pi/4 -> 32767 * 0.70711 = 23169.77 -> 23170.
        assert_eq!(f.twiddles[0], Cpx16 { r: 32767, i: 0 });
        assert_eq!(f.twiddles[2], Cpx16 { r: 0, i: -32767 });
        assert_eq!(
            f.twiddles[1],
            Cpx16 {
                r: 23170,
                i: -23170
            }
        );
        // Stages innermost first: the radix 2 (m = 1, stride 4), then the radix 4 (m = 2, stride 1).
        assert_eq!(f.stages, vec![(2, 1, 4), (4, 2, 1)]);
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
        assert_eq!(KissFftR16::new(512).unwrap().stages.len(), 4);
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
