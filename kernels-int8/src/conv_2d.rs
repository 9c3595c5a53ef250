//! CONV_2D, int8 per-channel (TFLite's `reference_integer_ops::ConvPerChannel`).
//!
//! Accumulator bound: each product `filter * (input + input_offset)` is at most
//! `128 * 255` in magnitude, so the i32 sum is exact for up to 2^31 / 32640
//! (about 65,000) products per output plus the bias; larger filters wrap like
//! TFLite's C++ in practice (the fast path wraps explicitly, so both agree).

use crate::window::{check_conv_buffers, origin, requantize};
use crate::Dims4;

/// Integer parameters of an int8 CONV_2D.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvParams {
    /// Minus the input zero point.
    pub input_offset: i32,
    /// The output zero point.
    pub output_offset: i32,
    /// Stride along width.
    pub stride_w: usize,
    /// Stride along height.
    pub stride_h: usize,
    /// Dilation along width.
    pub dilation_w: usize,
    /// Dilation along height.
    pub dilation_h: usize,
    /// Padding before the first column.
    pub padding_w: usize,
    /// Padding before the first row.
    pub padding_h: usize,
    /// Lower clamp of the output (fused activation, int8 range).
    pub activation_min: i32,
    /// Upper clamp of the output (fused activation, int8 range).
    pub activation_max: i32,
}

/// Debug checks of a CONV_2D call: buffers, batch, channels and groups.
fn check_shapes(
    m: &[i32],
    s: &[i32],
    xs: Dims4,
    x: &[i8],
    fs: Dims4,
    f: &[i8],
    b: Option<&[i32]>,
    ys: Dims4,
    y: &[i8],
) {
    check_conv_buffers(m, s, xs, x, fs, f, b, ys, y);
    debug_assert_eq!(xs.n, ys.n);
    debug_assert_eq!(fs.n, ys.c);
    debug_assert!(fs.c > 0 && xs.c.is_multiple_of(fs.c));
}

/// Requantizes one accumulator to int8 (per-channel multiplier, zero point, clamp).
#[inline(always)]
fn finish(acc: i32, multiplier: i32, shift: i32, params: &ConvParams) -> i8 {
    let (lo, hi) = (params.activation_min, params.activation_max);
    requantize(acc, multiplier, shift, params.output_offset, lo, hi)
}

/// Reference int8 convolution: input NHWC, filter OHWI, bias per output channel,
/// one multiplier/shift per output channel.
///
/// Grouped convolution is supported like TFLite: `groups = input c / filter c`.
pub fn conv_per_channel(
    params: &ConvParams,
    output_multiplier: &[i32],
    output_shift: &[i32],
    input_shape: Dims4,
    input: &[i8],
    filter_shape: Dims4,
    filter: &[i8],
    bias: Option<&[i32]>,
    output_shape: Dims4,
    output: &mut [i8],
) {
    let (m, s, b) = (output_multiplier, output_shift, bias);
    check_shapes(
        m,
        s,
        input_shape,
        input,
        filter_shape,
        filter,
        b,
        output_shape,
        output,
    );
    let filter_input_depth = filter_shape.c;
    let groups = input_shape.c / filter_input_depth;
    let filters_per_group = output_shape.c / groups;
    let (in_h, in_w) = (input_shape.h as isize, input_shape.w as isize);
    for b in 0..output_shape.n {
        for out_y in 0..output_shape.h {
            let in_y_origin = origin(out_y, params.stride_h, params.padding_h);
            for out_x in 0..output_shape.w {
                let in_x_origin = origin(out_x, params.stride_w, params.padding_w);
                for out_c in 0..output_shape.c {
                    let group = out_c / filters_per_group;
                    let mut acc: i32 = 0;
                    for fy in 0..filter_shape.h {
                        let in_y = in_y_origin + (params.dilation_h * fy) as isize;
                        for fx in 0..filter_shape.w {
                            let in_x = in_x_origin + (params.dilation_w * fx) as isize;
                            // Positions in the padding contribute nothing.
                            if in_y < 0 || in_y >= in_h || in_x < 0 || in_x >= in_w {
                                continue;
                            }
                            for ic in 0..filter_input_depth {
                                let x = i32::from(
                                    input[input_shape.offset(
                                        b,
                                        in_y as usize,
                                        in_x as usize,
                                        ic + group * filter_input_depth,
                                    )],
                                );
                                let w = i32::from(filter[filter_shape.offset(out_c, fy, fx, ic)]);
                                // |w * (x + offset)| <= 128 * 255.
                                acc = acc.wrapping_add(w * (x + params.input_offset));
                            }
                        }
                    }
                    if let Some(bias) = bias {
                        acc = acc.wrapping_add(bias[out_c]);
                    }
                    output[output_shape.offset(b, out_y, out_x, out_c)] =
                        finish(acc, output_multiplier[out_c], output_shift[out_c], params);
                }
            }
        }
    }
}

/// Output pixels per tile the im2col path aims for with [`conv_scratch_len`].
const TILE_PIXELS: usize = 64;

/// Output channels per block of the packed (x86_64) kernel.
pub(crate) const NR: usize = 8;

/// Recommended scratch length (bytes) of [`conv_per_channel_fast`].
pub const fn conv_scratch_len(filter_shape: Dims4, output_shape: Dims4) -> usize {
    let k = filter_shape.h * filter_shape.w * filter_shape.c;
    let pixels = output_shape.h * output_shape.w;
    let rows = if pixels < TILE_PIXELS {
        pixels
    } else {
        TILE_PIXELS
    };
    let rows = if rows == 0 { 1 } else { rows };
    // The packed path: 16 bytes of alignment slack, i16 filter blocks of NR
    // channels and i16 im2col rows, both over taps rounded up to a pair.
    let k2 = (k + 1) & !1;
    let blocks = output_shape.c.div_ceil(NR);
    let packed = 16 + 2 * k2 * (blocks * NR + rows);
    let band = 16 + 2 * band_len(filter_shape, output_shape);
    let packed = if band > packed { band } else { packed };
    if packed > k * rows {
        packed
    } else {
        k * rows
    }
}

/// `sum a[i] * b[i]` with wrapping i32 accumulation: the DSP-extension path on
/// Cortex-M with the `armv7em-dsp` feature, else the portable loop.
#[inline(always)]
pub(crate) fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    #[cfg(all(target_arch = "arm", feature = "armv7em-dsp"))]
    {
        crate::arm_dsp::dot_i8(a, b)
    }
    #[cfg(not(all(target_arch = "arm", feature = "armv7em-dsp")))]
    {
        dot_i8_portable(a, b)
    }
}

/// Int8 dot product with an i32 accumulator (wrapping), written so that the
/// compiler vectorizes it (sign-extend to 16 bits, multiply-add pairs).
#[inline(always)]
#[cfg_attr(all(target_arch = "arm", feature = "armv7em-dsp"), allow(dead_code))]
fn dot_i8_portable(a: &[i8], b: &[i8]) -> i32 {
    debug_assert_eq!(a.len(), b.len());
    const LANES: usize = 16;
    if a.len() < LANES {
        // Short rows: a plain loop, without the lane accumulators to reduce.
        return a.iter().zip(b).fold(0i32, |s, (&x, &y)| {
            s.wrapping_add(i32::from(x) * i32::from(y))
        });
    }
    let mut acc = [0i32; LANES];
    let chunks = a.len() / LANES;
    let (a_main, a_tail) = a.split_at(chunks * LANES);
    let (b_main, b_tail) = b.split_at(chunks * LANES);
    for (ca, cb) in a_main.chunks_exact(LANES).zip(b_main.chunks_exact(LANES)) {
        for i in 0..LANES {
            // |product| <= 2^14; a lane sums a.len()/16 of them.
            acc[i] = acc[i].wrapping_add(i32::from(ca[i]) * i32::from(cb[i]));
        }
    }
    let mut sum = 0i32;
    for v in acc {
        sum = sum.wrapping_add(v);
    }
    for (&x, &y) in a_tail.iter().zip(b_tail) {
        sum = sum.wrapping_add(i32::from(x) * i32::from(y));
    }
    sum
}

/// Sum of int8 values (wrapping i32).
#[inline(always)]
pub(crate) fn sum_i8(a: &[i8]) -> i32 {
    a.iter().fold(0i32, |s, &x| s.wrapping_add(i32::from(x)))
}

/// Fills one im2col row (`filter h * w * c` values `map(x)`) for output pixel `(b, out_y, out_x)`;
/// padded positions get `pad` (standing for the input zero point, so they add nothing).
#[inline(always)]
fn im2col_row<T: Copy>(
    params: &ConvParams,
    input_shape: Dims4,
    input: &[i8],
    filter_shape: Dims4,
    b: usize,
    out_y: usize,
    out_x: usize,
    pad: T,
    map: impl Fn(i8) -> T,
    row: &mut [T],
) {
    let depth = input_shape.c;
    let (in_h, in_w) = (input_shape.h as isize, input_shape.w as isize);
    let in_y_origin = origin(out_y, params.stride_h, params.padding_h);
    let in_x_origin = origin(out_x, params.stride_w, params.padding_w);
    let span = filter_shape.w * depth;
    let last_x = in_x_origin + (params.dilation_w * (filter_shape.w - 1)) as isize;
    for fy in 0..filter_shape.h {
        let dst = &mut row[fy * span..(fy + 1) * span];
        let in_y = in_y_origin + (params.dilation_h * fy) as isize;
        if in_y < 0 || in_y >= in_h {
            dst.fill(pad);
            continue;
        }
        if params.dilation_w == 1 && in_x_origin >= 0 && last_x < in_w {
            // The whole filter row lies inside: one contiguous copy.
            let start = input_shape.offset(b, in_y as usize, in_x_origin as usize, 0);
            for (d, &v) in dst.iter_mut().zip(&input[start..start + span]) {
                *d = map(v);
            }
            continue;
        }
        for fx in 0..filter_shape.w {
            let d = &mut dst[fx * depth..(fx + 1) * depth];
            let in_x = in_x_origin + (params.dilation_w * fx) as isize;
            if in_x < 0 || in_x >= in_w {
                d.fill(pad);
            } else {
                let start = input_shape.offset(b, in_y as usize, in_x as usize, 0);
                for (d, &v) in d.iter_mut().zip(&input[start..start + depth]) {
                    *d = map(v);
                }
            }
        }
    }
}

/// Fast int8 convolution (SSE2 GEMM on x86_64, else im2col + int8 dot products), bit-exact with [`conv_per_channel`].
///
/// `scratch` must hold at least one im2col row (`filter h * w * c` bytes); with
/// [`conv_scratch_len`] bytes the x86_64 paths apply: an implicit GEMM over i16 input
/// row bands for `stride_w == dilation_w == 1`, else an i16 im2col GEMM, filters
/// packed into `scratch` on each call (few output pixels: i8 dot products).
/// Grouped convolutions fall back to [`conv_per_channel`].
pub fn conv_per_channel_fast(
    params: &ConvParams,
    output_multiplier: &[i32],
    output_shift: &[i32],
    input_shape: Dims4,
    input: &[i8],
    filter_shape: Dims4,
    filter: &[i8],
    bias: Option<&[i32]>,
    output_shape: Dims4,
    output: &mut [i8],
    scratch: &mut [i8],
) {
    let (m, s, b) = (output_multiplier, output_shift, bias);
    let (xs, x, fs, f, ys) = (input_shape, input, filter_shape, filter, output_shape);
    check_shapes(m, s, xs, x, fs, f, b, ys, output);
    let k = filter_shape.h * filter_shape.w * filter_shape.c;
    let pad = -params.input_offset;
    if filter_shape.c != input_shape.c || k == 0 || !(-128..=127).contains(&pad) {
        conv_per_channel(params, m, s, xs, x, fs, f, b, ys, output);
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if conv_sse2(params, m, s, xs, x, fs, f, b, ys, output, scratch) {
        return;
    }
    debug_assert!(scratch.len() >= k, "conv scratch {} < {k}", scratch.len());
    let out_c = output_shape.c;
    let pixels = output_shape.h * output_shape.w;
    #[cfg(all(target_arch = "arm", feature = "armv7em-dsp"))]
    if conv_dsp(params, m, s, xs, x, fs, f, b, ys, output, scratch) {
        return;
    }
    let pad = pad as i8;
    let tile = (scratch.len() / k).max(1);
    // acc = sum w * (x + off) + bias = dot(w, x) + (off * sum(w) + bias), where
    // padded x equal -off and so add w * 0 as in the reference; all i32 sums
    // wrap, so the result equals the reference's modulo 2^32 in every case.
    for b in 0..output_shape.n {
        let mut p0 = 0;
        while p0 < pixels {
            let n = tile.min(pixels - p0);
            for (i, row) in scratch[..n * k].chunks_exact_mut(k).enumerate() {
                let p = p0 + i;
                im2col_row(
                    params,
                    input_shape,
                    input,
                    filter_shape,
                    b,
                    p / output_shape.w,
                    p % output_shape.w,
                    pad,
                    |v| v,
                    row,
                );
            }
            let cols = &scratch[..n * k];
            let out_base = (b * pixels + p0) * out_c;
            for oc in 0..out_c {
                let w = &filter[oc * k..(oc + 1) * k];
                let mut base = params.input_offset.wrapping_mul(sum_i8(w));
                if let Some(bias) = bias {
                    base = base.wrapping_add(bias[oc]);
                }
                let (m, s) = (output_multiplier[oc], output_shift[oc]);
                for (i, col) in cols.chunks_exact(k).enumerate() {
                    let acc = dot_i8(col, w).wrapping_add(base);
                    output[out_base + i * out_c + oc] = finish(acc, m, s, params);
                }
            }
            p0 += n;
        }
    }
}

/// The Cortex-M DSP path of [`conv_per_channel_fast`] (ungrouped): output
/// pixels as int8 rows (the input itself for a pointwise convolution, else
/// im2col rows in `scratch`) against the filters, two pixels by two output
/// channels per step, so each word of inputs and of weights, once widened with
/// `SXTB16`, feeds two `SMLAD`s; requantization derived once per channel pair.
/// Returns false, writing nothing, when it does not apply.
#[cfg(all(target_arch = "arm", feature = "armv7em-dsp"))]
fn conv_dsp(
    params: &ConvParams,
    output_multiplier: &[i32],
    output_shift: &[i32],
    input_shape: Dims4,
    input: &[i8],
    filter_shape: Dims4,
    filter: &[i8],
    bias: Option<&[i32]>,
    output_shape: Dims4,
    output: &mut [i8],
    scratch: &mut [i8],
) -> bool {
    use crate::requant::{acc_bound, BoundedRequantizer, FullRange, Requantizer};
    let k = filter_shape.h * filter_shape.w * filter_shape.c;
    let out_c = output_shape.c;
    let pixels = output_shape.h * output_shape.w;
    if filter_shape.c != input_shape.c
        || k == 0
        || !(-128..=127).contains(&-params.input_offset)
        || (0..out_c)
            .any(|c| !(-31..=31).contains(&output_shift[c]) || output_multiplier[c] == i32::MIN)
    {
        return false;
    }
    // A pointwise convolution reads its rows straight from the input.
    let pointwise = filter_shape.h == 1
        && filter_shape.w == 1
        && params.stride_h == 1
        && params.stride_w == 1
        && output_shape.h == input_shape.h
        && output_shape.w == input_shape.w;
    // The widened path: per tile, pixel pairs widened to int16 (k words per
    // pair), and per channel pair its weights (k words), after
    // the im2col rows in `scratch`; it needs k % 4 == 0 and room for a tile.
    let im2col_bytes = if pointwise { 0 } else { k };
    let wide_tile = if k.is_multiple_of(4) {
        scratch.len().saturating_sub(4 * k + 8) / (2 * k + im2col_bytes)
    } else {
        0
    };
    // Widening a channel pair's weights pays off over enough pixels per tile.
    const MIN_WIDE_TILE: usize = 8;
    let wide = wide_tile.min(pixels) >= MIN_WIDE_TILE;
    let tile = if wide {
        wide_tile.min(pixels)
    } else if pointwise {
        pixels
    } else {
        (scratch.len() / k).max(1)
    };
    let (scratch, wide_buf) = scratch.split_at_mut(if pointwise { 0 } else { tile * k });
    let align = wide_buf.as_ptr().align_offset(4);
    // SAFETY: any bit pattern is a valid u32.
    let wide_buf: &mut [u32] = if wide {
        unsafe { wide_buf[align..].align_to_mut::<u32>().1 }
    } else {
        &mut []
    };
    // Whole pairs only (an odd last pixel takes the int8 path): k words each.
    let (wide_rows, wide_w) = wide_buf.split_at_mut(if wide { (tile / 2) * k } else { 0 });
    let (lo, hi) = (params.activation_min, params.activation_max);
    // Per output channel: the input offset times the filter sum, plus the bias.
    // acc = dot(w, x) + base, padded x equal -offset (so they add w * 0), all
    // sums wrapping: the reference's accumulator modulo 2^32.
    let base = |oc: usize| {
        let b = bias.map_or(0, |b| b[oc]);
        params
            .input_offset
            .wrapping_mul(sum_i8(&filter[oc * k..(oc + 1) * k]))
            .wrapping_add(b)
    };
    for b in 0..output_shape.n {
        let mut p0 = 0;
        while p0 < pixels {
            let n = tile.min(pixels - p0);
            let rows: &[i8] = if pointwise {
                let at = input_shape.offset(b, 0, 0, 0) + p0 * k;
                &input[at..at + n * k]
            } else {
                for (i, row) in scratch[..n * k].chunks_exact_mut(k).enumerate() {
                    let p = p0 + i;
                    let (y, x) = (p / output_shape.w, p % output_shape.w);
                    let pad = -params.input_offset as i8;
                    im2col_row(
                        params,
                        input_shape,
                        input,
                        filter_shape,
                        b,
                        y,
                        x,
                        pad,
                        |v| v,
                        row,
                    );
                }
                &scratch[..n * k]
            };
            let out_base = (b * pixels + p0) * out_c;
            if wide {
                widen_pairs(rows, n / 2, k, wide_rows);
            }
            let mut oc = 0;
            while oc < out_c {
                if wide && out_c - oc >= 2 {
                    widen_pairs(&filter[oc * k..(oc + 2) * k], 1, k, wide_w);
                }
                let pair = out_c - oc >= 2;
                let chans = if pair { 2 } else { 1 };
                let base = [base(oc), if pair { base(oc + 1) } else { 0 }];
                let plain: [Requantizer; 2] = core::array::from_fn(|j| {
                    let c = if j < chans { oc + j } else { oc };
                    let (m, s) = (output_multiplier[c], output_shift[c]);
                    Requantizer::new(m, s, params.output_offset, lo, hi)
                });
                // The short requantization where the accumulators are small
                // enough (and the tile long enough to pay for the bound).
                let bounded: [Option<BoundedRequantizer>; 2] = core::array::from_fn(|j| {
                    if n < MIN_WIDE_TILE {
                        return None;
                    }
                    let c = if j < chans { oc + j } else { oc };
                    let w = filter[c * k..(c + 1) * k].iter().copied();
                    let bound = acc_bound(w, params.input_offset, bias.map_or(0, |b| b[c]));
                    let (m, s) = (output_multiplier[c], output_shift[c]);
                    BoundedRequantizer::new(m, s, params.output_offset, lo, hi, bound)
                });
                let tile = DspTile {
                    rows,
                    wide: if wide {
                        Some((&*wide_rows, &*wide_w))
                    } else {
                        None
                    },
                    n,
                    k,
                    filter,
                    oc,
                    pair,
                    base,
                    out_base,
                    out_c,
                };
                match bounded {
                    [Some(a), Some(b)] if a.is_full_range() => {
                        tile.run([FullRange(a), FullRange(b)], output)
                    }
                    [Some(a), Some(b)] => tile.run([a, b], output),
                    _ => tile.run(plain, output),
                }
                oc += chans;
            }
            p0 += n;
        }
    }
    true
}

/// One tile of [`conv_dsp`]: `n` int8 rows of `k` values against output
/// channel `oc` (and `oc + 1` when `pair`).
#[cfg(all(target_arch = "arm", feature = "armv7em-dsp"))]
struct DspTile<'a> {
    rows: &'a [i8],
    /// The rows' pairs and the channel pair's weights widened by [`widen_pairs`].
    wide: Option<(&'a [u32], &'a [u32])>,
    n: usize,
    k: usize,
    filter: &'a [i8],
    oc: usize,
    pair: bool,
    /// Per channel: the input offset times the filter sum, plus the bias.
    base: [i32; 2],
    out_base: usize,
    out_c: usize,
}

#[cfg(all(target_arch = "arm", feature = "armv7em-dsp"))]
impl DspTile<'_> {
    /// The tile's outputs, two rows by two channels per step, requantized by `q`.
    #[inline(never)]
    fn run<Q: crate::requant::OutputStage>(&self, q: [Q; 2], output: &mut [i8]) {
        let (rows, n, k, oc, base) = (self.rows, self.n, self.k, self.oc, self.base);
        let (out_base, out_c) = (self.out_base, self.out_c);
        let chans = if self.pair { 2 } else { 1 };
        let w0 = &self.filter[oc * k..(oc + 1) * k];
        let mut i = 0;
        while i < n {
            let row0 = &rows[i * k..(i + 1) * k];
            if self.pair && i + 1 < n {
                let row1 = &rows[(i + 1) * k..(i + 2) * k];
                let w1 = &self.filter[(oc + 1) * k..(oc + 2) * k];
                let acc = match self.wide {
                    Some((x, w)) => {
                        let words = 2 * (k / 4);
                        let x = &x[(i / 2) * 2 * words..][..2 * words];
                        dot_2x2_wide(x, &w[..2 * words])
                    }
                    None => dot_2x2(row0, row1, w0, w1),
                };
                let at = out_base + i * out_c + oc;
                output[at] = q[0].output(acc[0][0].wrapping_add(base[0]));
                output[at + 1] = q[1].output(acc[0][1].wrapping_add(base[1]));
                output[at + out_c] = q[0].output(acc[1][0].wrapping_add(base[0]));
                output[at + out_c + 1] = q[1].output(acc[1][1].wrapping_add(base[1]));
                i += 2;
                continue;
            }
            for j in 0..chans {
                let w = &self.filter[(oc + j) * k..(oc + j + 1) * k];
                let acc = dot_i8(row0, w).wrapping_add(base[j]);
                output[out_base + i * out_c + oc + j] = q[j].output(acc);
            }
            i += 1;
        }
    }
}

/// Widens `pairs` pairs of `k`-long int8 rows (`k % 4 == 0`) into `out`, per pair
/// and per 4 values `[a.e, b.e, a.o, b.o]` (`e`: lanes 0 and 2 of the word,
/// `o`: 1 and 3, as `SXTB16` widens them), the layout of [`dot_2x2_wide`].
#[cfg(all(target_arch = "arm", feature = "armv7em-dsp"))]
fn widen_pairs(rows: &[i8], pairs: usize, k: usize, out: &mut [u32]) {
    use crate::arm_dsp::{sxtb16, sxtb16_ror8, word};
    debug_assert!(k.is_multiple_of(4));
    for p in 0..pairs {
        let (a, b) = (&rows[2 * p * k..][..k], &rows[(2 * p + 1) * k..][..k]);
        let dst = &mut out[2 * p * (k / 2)..][..2 * (k / 2)];
        for ((a, b), d) in a
            .chunks_exact(4)
            .zip(b.chunks_exact(4))
            .zip(dst.chunks_exact_mut(4))
        {
            let (a, b) = (word(a), word(b));
            d[0] = sxtb16(a);
            d[1] = sxtb16(b);
            d[2] = sxtb16_ror8(a);
            d[3] = sxtb16_ror8(b);
        }
    }
}

/// [`dot_2x2`] over rows widened by [`widen_pairs`]: `x` a pixel pair, `w` a
/// channel pair (equal lengths, a multiple of 4 words); per two words of
/// each, two `LDM`s and four `SMLAD`s.
#[cfg(all(target_arch = "arm", feature = "armv7em-dsp"))]
#[inline(always)]
fn dot_2x2_wide(x: &[u32], w: &[u32]) -> [[i32; 2]; 2] {
    assert!(x.len() == w.len() && x.len().is_multiple_of(4) && !x.is_empty());
    let (mut c00, mut c01, mut c10, mut c11) = (0i32, 0i32, 0i32, 0i32);
    let end = x.as_ptr().wrapping_add(x.len());
    // SAFETY: reads x and w word by word up to x's end (equal lengths, a
    // multiple of 4, nonempty); LDM loads its registers in ascending order.
    unsafe {
        core::arch::asm!(
            "2:",
            "ldm {px}!, {{r2, r3}}",
            "ldm {pw}!, {{r4, r5}}",
            "smlad {c00}, r2, r4, {c00}",
            "smlad {c01}, r2, r5, {c01}",
            "smlad {c10}, r3, r4, {c10}",
            "smlad {c11}, r3, r5, {c11}",
            "ldm {px}!, {{r2, r3}}",
            "ldm {pw}!, {{r4, r5}}",
            "smlad {c00}, r2, r4, {c00}",
            "smlad {c01}, r2, r5, {c01}",
            "smlad {c10}, r3, r4, {c10}",
            "smlad {c11}, r3, r5, {c11}",
            "cmp {px}, {end}",
            "bne 2b",
            px = inout(reg) x.as_ptr() => _,
            pw = inout(reg) w.as_ptr() => _,
            end = in(reg) end,
            c00 = inout(reg) c00,
            c01 = inout(reg) c01,
            c10 = inout(reg) c10,
            c11 = inout(reg) c11,
            out("r2") _,
            out("r3") _,
            out("r4") _,
            out("r5") _,
            options(readonly, nostack),
        );
    }
    [[c00, c01], [c10, c11]]
}

/// `[[x0 . w0, x0 . w1], [x1 . w0, x1 . w1]]` (wrapping i32 dot products of
/// equal-length int8 rows): each loaded word widened once for two `SMLAD`s.
#[cfg(all(target_arch = "arm", feature = "armv7em-dsp"))]
#[inline(always)]
fn dot_2x2(x0: &[i8], x1: &[i8], w0: &[i8], w1: &[i8]) -> [[i32; 2]; 2] {
    use crate::arm_dsp::{smlad, sxtb16, sxtb16_ror8};
    let k = x0.len();
    assert!(x1.len() == k && w0.len() == k && w1.len() == k);
    let words = k / 4;
    let (mut c00, mut c01, mut c10, mut c11) = (0i32, 0i32, 0i32, 0i32);
    // Rows x1 and w1 must sit k bytes after x0 and w0 for the loop below.
    if words > 0
        && x1.as_ptr() == x0.as_ptr().wrapping_add(k)
        && w1.as_ptr() == w0.as_ptr().wrapping_add(k)
    {
        let end = x0.as_ptr().wrapping_add(4 * words);
        // SAFETY: reads words 0..words of the four rows (x1 = x0 + k and
        // w1 = w0 + k, checked above), each inside its k-long row; the end
        // pointer is kept on the stack and popped before the block ends.
        unsafe {
            core::arch::asm!(
                "push {{{end}}}",
                "2:",
                "ldr {v}, [{pw}, {k}]",
                "ldr {u}, [{pw}], #4",
                "sxtb16 {t1}, {u}",
                "sxtb16 {u}, {u}, ror #8",
                "sxtb16 {t2}, {v}",
                "sxtb16 {v}, {v}, ror #8",
                "ldr {a}, [{px}, {k}]",
                "sxtb16 {end}, {a}",
                "sxtb16 {a}, {a}, ror #8",
                "smlad {c10}, {end}, {t1}, {c10}",
                "smlad {c11}, {end}, {t2}, {c11}",
                "smlad {c10}, {a}, {u}, {c10}",
                "smlad {c11}, {a}, {v}, {c11}",
                "ldr {a}, [{px}], #4",
                "sxtb16 {end}, {a}",
                "sxtb16 {a}, {a}, ror #8",
                "smlad {c00}, {end}, {t1}, {c00}",
                "smlad {c01}, {end}, {t2}, {c01}",
                "smlad {c00}, {a}, {u}, {c00}",
                "smlad {c01}, {a}, {v}, {c01}",
                "ldr {end}, [sp]",
                "cmp {px}, {end}",
                "bne 2b",
                "add sp, sp, #4",
                px = inout(reg) x0.as_ptr() => _,
                pw = inout(reg) w0.as_ptr() => _,
                k = in(reg) k,
                end = inout(reg) end => _,
                c00 = inout(reg) c00,
                c01 = inout(reg) c01,
                c10 = inout(reg) c10,
                c11 = inout(reg) c11,
                u = out(reg) _,
                v = out(reg) _,
                t1 = out(reg) _,
                t2 = out(reg) _,
                a = out(reg) _,
                options(readonly),
            );
        }
    } else {
        let rd = |s: &[i8], i: usize| {
            // SAFETY: i < words, so bytes 4i..4i + 4 lie inside the k-long row.
            unsafe { (s.as_ptr().add(4 * i) as *const u32).read_unaligned() }
        };
        for i in 0..words {
            let (a, b) = (rd(x0, i), rd(x1, i));
            let (u, v) = (rd(w0, i), rd(w1, i));
            let (ae, be, ue, ve) = (sxtb16(a), sxtb16(b), sxtb16(u), sxtb16(v));
            c00 = smlad(ae, ue, c00);
            c01 = smlad(ae, ve, c01);
            c10 = smlad(be, ue, c10);
            c11 = smlad(be, ve, c11);
            let (ao, bo, uo, vo) = (
                sxtb16_ror8(a),
                sxtb16_ror8(b),
                sxtb16_ror8(u),
                sxtb16_ror8(v),
            );
            c00 = smlad(ao, uo, c00);
            c01 = smlad(ao, vo, c01);
            c10 = smlad(bo, uo, c10);
            c11 = smlad(bo, vo, c11);
        }
    }
    for j in 4 * words..k {
        let (a, b) = (i32::from(x0[j]), i32::from(x1[j]));
        let (u, v) = (i32::from(w0[j]), i32::from(w1[j]));
        c00 = c00.wrapping_add(a * u);
        c01 = c01.wrapping_add(a * v);
        c10 = c10.wrapping_add(b * u);
        c11 = c11.wrapping_add(b * v);
    }
    [[c00, c01], [c10, c11]]
}

/// The SSE2 path of [`conv_per_channel_fast`] (ungrouped convolution); returns
/// false, writing nothing, when it does not apply (unsupported requantization
/// constants, activation bounds outside int8, too little scratch).
///
/// Few output pixels: an i8 im2col row against 4 filter rows at a time, both
/// widened to i16 on the fly (`dot4_offset`). Otherwise: filters packed as i16 in
/// blocks of [`NR`] channels, im2col rows as i16 with the input offset added
/// (padded taps are then 0), and a `simd::MR` x [`NR`] `pmaddwd` kernel.
#[cfg(target_arch = "x86_64")]
fn conv_sse2(
    params: &ConvParams,
    output_multiplier: &[i32],
    output_shift: &[i32],
    input_shape: Dims4,
    input: &[i8],
    filter_shape: Dims4,
    filter: &[i8],
    bias: Option<&[i32]>,
    output_shape: Dims4,
    output: &mut [i8],
    scratch: &mut [i8],
) -> bool {
    use crate::simd::{self, MR};
    use core::arch::x86_64::*;
    let k = filter_shape.h * filter_shape.w * filter_shape.c;
    let oc = output_shape.c;
    let off = params.input_offset;
    let (amin, amax) = (params.activation_min, params.activation_max);
    // x + off must fit i16 (and |w * (x + off)| pair sums fit i32).
    let supported = (-32_000..=32_000).contains(&off)
        && -128 <= amin
        && amin <= amax
        && amax <= 127
        && (0..oc).all(|c| simd::requant_supported(output_multiplier[c], output_shift[c]));
    if !supported {
        return false;
    }
    let pixels = output_shape.h * output_shape.w;
    // SAFETY: SSE2 is part of the x86_64 baseline.
    let (out_off, lo, hi) = unsafe {
        (
            _mm_set1_epi32(params.output_offset),
            _mm_set1_epi16(amin as i16),
            _mm_set1_epi16(amax as i16),
        )
    };
    // Constants of channels c0..c0+4 and c0..c0+8 (missing channels: zeros).
    let consts = |c0| simd::channels4(output_multiplier, output_shift, bias, oc, c0);
    let stage = |c0| {
        let (m, s, offset) = (output_multiplier, output_shift, params.output_offset);
        simd::OutStage::new(m, s, bias, oc, c0, offset, amin, amax)
    };
    let pad = -off;
    if pixels < MR && (-128..=127).contains(&pad) && scratch.len() >= k {
        let row = &mut scratch[..k];
        for b in 0..output_shape.n {
            for p in 0..pixels {
                let (y, x) = (p / output_shape.w, p % output_shape.w);
                im2col_row(
                    params,
                    input_shape,
                    input,
                    filter_shape,
                    b,
                    y,
                    x,
                    pad as i8,
                    |v| v,
                    row,
                );
                let out = &mut output[(b * pixels + p) * oc..][..oc];
                for c0 in (0..oc).step_by(4) {
                    let w = [0, 1, 2, 3].map(|i| {
                        let c = (c0 + i).min(oc - 1);
                        &filter[c * k..(c + 1) * k]
                    });
                    let acc = simd::dot4_offset(w, row, 0, off as i16);
                    let (rq, bv) = consts(c0);
                    // SAFETY: SSE2 arithmetic.
                    let y = rq.apply(unsafe { _mm_add_epi32(acc, bv) });
                    let v = simd::pack_i8(y, y, out_off, lo, hi);
                    simd::store_i8(v, &mut out[c0..], (oc - c0).min(4));
                }
            }
        }
        return true;
    }
    let blocks = oc.div_ceil(NR);
    if params.stride_w == 1
        && params.dilation_w == 1
        && pixels >= MR
        && conv_band_sse2(
            params,
            input_shape,
            input,
            filter_shape,
            filter,
            output_shape,
            output,
            scratch,
            &stage,
        )
    {
        return true;
    }
    let k2 = (k + 1) & !1;
    let wlen = blocks * NR * k2;
    let align = scratch.as_ptr().align_offset(16);
    if align > scratch.len() || (scratch.len() - align) / 2 < wlen + MR.min(pixels) * k2 {
        return false;
    }
    // SAFETY: any bit pattern is a valid i16.
    let (pre, mid, _) = unsafe { scratch[align..].align_to_mut::<i16>() };
    debug_assert!(pre.is_empty());
    let (wts, cols) = mid.split_at_mut(wlen);
    let tile = (cols.len() / k2).min(pixels).max(1);
    for (blk, dst) in wts.chunks_exact_mut(NR * k2).enumerate() {
        let rows = (oc - blk * NR).min(NR);
        simd::pack_block(
            &filter[blk * NR * k..(blk * NR + rows) * k],
            k,
            k,
            rows,
            dst,
        );
    }
    let off16 = off as i16;
    for b in 0..output_shape.n {
        let mut p0 = 0;
        while p0 < pixels {
            let n = tile.min(pixels - p0);
            let (mut y, mut x) = (p0 / output_shape.w, p0 % output_shape.w);
            for row in cols[..n * k2].chunks_exact_mut(k2) {
                im2col_row(
                    params,
                    input_shape,
                    input,
                    filter_shape,
                    b,
                    y,
                    x,
                    0i16,
                    |v| i16::from(v) + off16,
                    &mut row[..k],
                );
                if k2 > k {
                    row[k] = 0;
                }
                x += 1;
                if x == output_shape.w {
                    (y, x) = (y + 1, 0);
                }
            }
            let cols = &cols[..n * k2];
            for (blk, w) in wts.chunks_exact(NR * k2).enumerate() {
                let c0 = blk * NR;
                let nc = (oc - c0).min(NR);
                let out_px = &mut output[(b * pixels + p0) * oc..(b * pixels + p0 + n) * oc];
                let dst = &mut out_px[c0..];
                simd::gemm_store(w, cols, n, k2, k2, 1, k2 / 2, &stage(c0), dst, oc, nc);
            }
            p0 += n;
        }
    }
    true
}

/// Scratch (in i16) of [`conv_band_sse2`]: packed filters and one band of input rows.
const fn band_len(filter_shape: Dims4, output_shape: Dims4) -> usize {
    let span = filter_shape.w * filter_shape.c;
    let span2 = (span + 1) & !1;
    let seg = (output_shape.w + filter_shape.w - 1) * filter_shape.c;
    let blocks = output_shape.c.div_ceil(NR);
    blocks * NR * filter_shape.h * span2 + filter_shape.h * ((seg + 2) & !1)
}

/// The implicit-GEMM SSE2 convolution for `stride_w == dilation_w == 1`: per output
/// row, the `filter h` input rows it reads (the span of all its windows, padding
/// included) are widened to i16 with the input offset added (padding as 0) into a
/// band, and each pixel's filter row `fy` is then a contiguous run of that band;
/// filters are packed per filter row (`pack_block` segments). Returns false when
/// `scratch` is too small.
#[cfg(target_arch = "x86_64")]
fn conv_band_sse2(
    params: &ConvParams,
    input_shape: Dims4,
    input: &[i8],
    filter_shape: Dims4,
    filter: &[i8],
    output_shape: Dims4,
    output: &mut [i8],
    scratch: &mut [i8],
    out_stage: &dyn Fn(usize) -> crate::simd::OutStage,
) -> bool {
    use crate::simd;
    debug_assert!(params.stride_w == 1 && params.dilation_w == 1);
    let c = input_shape.c;
    let (fh, oc, ow) = (filter_shape.h, output_shape.c, output_shape.w);
    let k = fh * filter_shape.w * c;
    let span = filter_shape.w * c;
    let span2 = (span + 1) & !1;
    let seg = (ow + filter_shape.w - 1) * c;
    // One spare value: a pixel's last pair may read one past its span (weight 0).
    let bs = (seg + 2) & !1;
    let blocks = oc.div_ceil(NR);
    let wlen = blocks * NR * fh * span2;
    let align = scratch.as_ptr().align_offset(16);
    if align > scratch.len() || (scratch.len() - align) / 2 < wlen + fh * bs {
        return false;
    }
    // SAFETY: any bit pattern is a valid i16.
    let (pre, mid, _) = unsafe { scratch[align..].align_to_mut::<i16>() };
    debug_assert!(pre.is_empty());
    let (wts, band) = mid.split_at_mut(wlen);
    let band = &mut band[..fh * bs];
    for (blk, dst) in wts.chunks_exact_mut(NR * fh * span2).enumerate() {
        let rows = (oc - blk * NR).min(NR);
        simd::pack_block(
            &filter[blk * NR * k..(blk * NR + rows) * k],
            k,
            span,
            rows,
            dst,
        );
    }
    // The output stages of the first 8 blocks, computed once.
    let mut cache = [None; 8];
    for (blk, slot) in cache.iter_mut().enumerate().take(blocks) {
        *slot = Some(out_stage(blk * NR));
    }
    let off = params.input_offset as i16;
    // Band index of input column 0; the valid columns fill [v0, v1).
    let lead = params.padding_w * c;
    let (v0, v1) = (lead.min(seg), (lead + input_shape.w * c).min(seg));
    for b in 0..output_shape.n {
        for y in 0..output_shape.h {
            for (fy, row) in band.chunks_exact_mut(bs).enumerate() {
                let dst = &mut row[..seg];
                let in_y = (y * params.stride_h + fy * params.dilation_h) as isize
                    - params.padding_h as isize;
                if in_y < 0 || in_y >= input_shape.h as isize {
                    dst.fill(0);
                    continue;
                }
                dst[..v0].fill(0);
                dst[v1..].fill(0);
                if v1 > v0 {
                    let start = input_shape.offset(b, in_y as usize, 0, 0);
                    simd::widen_offset(&input[start..start + (v1 - v0)], &mut dst[v0..v1], off);
                }
                row[seg..].fill(0);
            }
            let band = &*band;
            let out_row = &mut output[((b * output_shape.h + y) * ow) * oc..][..ow * oc];
            for (blk, w) in wts.chunks_exact(NR * fh * span2).enumerate() {
                let c0 = blk * NR;
                let nc = (oc - c0).min(NR);
                let owned;
                let out = match cache.get(blk) {
                    Some(Some(out)) => out,
                    _ => {
                        owned = out_stage(c0);
                        &owned
                    }
                };
                let dst = &mut out_row[c0..];
                simd::gemm_store(w, band, ow, c, bs, fh, span2 / 2, out, dst, oc, nc);
            }
        }
    }
    true
}
