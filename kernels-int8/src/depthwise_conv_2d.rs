//! DEPTHWISE_CONV_2D, int8 per-channel (TFLite's `reference_integer_ops::DepthwiseConvPerChannel`).

use crate::window::{check_conv_buffers, origin, requantize};
use crate::Dims4;
use core::ops::Range;

/// Integer parameters of an int8 DEPTHWISE_CONV_2D.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepthwiseParams {
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
    /// Output channels per input channel.
    pub depth_multiplier: usize,
    /// Lower clamp of the output (fused activation, int8 range).
    pub activation_min: i32,
    /// Upper clamp of the output (fused activation, int8 range).
    pub activation_max: i32,
}

/// Reference int8 depthwise convolution: input NHWC, filter 1HW(I*M), one multiplier/shift
/// per output channel.
///
/// Output channel `ic * depth_multiplier + m` reads input channel `ic`. Each
/// accumulator sums `filter h * w` products of magnitude <= 128 * 255 plus the
/// bias: exact in i32 for any practical filter.
pub fn depthwise_conv_per_channel(
    params: &DepthwiseParams,
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
    let (xs, x, fs, f, ys) = (input_shape, input, filter_shape, filter, output_shape);
    check_conv_buffers(m, s, xs, x, fs, f, b, ys, output);
    debug_assert_eq!(filter_shape.n, 1);
    debug_assert_eq!(output_shape.c, input_shape.c * params.depth_multiplier);
    debug_assert_eq!(filter_shape.c, output_shape.c);
    reference_channels(params, m, s, xs, x, fs, f, b, ys, output, 0..input_shape.c);
}

/// The reference formula for the output channels of input channels `channels`
/// (output channel `ic * depth_multiplier + m` reads input channel `ic`): the
/// in-bounds taps, the bias, then requantization.
fn reference_channels(
    params: &DepthwiseParams,
    output_multiplier: &[i32],
    output_shift: &[i32],
    input_shape: Dims4,
    input: &[i8],
    filter_shape: Dims4,
    filter: &[i8],
    bias: Option<&[i32]>,
    output_shape: Dims4,
    output: &mut [i8],
    channels: Range<usize>,
) {
    let (in_h, in_w) = (input_shape.h as isize, input_shape.w as isize);
    let (lo, hi) = (params.activation_min, params.activation_max);
    for b in 0..output_shape.n {
        for out_y in 0..output_shape.h {
            let in_y_origin = origin(out_y, params.stride_h, params.padding_h);
            for out_x in 0..output_shape.w {
                let in_x_origin = origin(out_x, params.stride_w, params.padding_w);
                for ic in channels.clone() {
                    for m in 0..params.depth_multiplier {
                        let oc = m + ic * params.depth_multiplier;
                        let mut acc: i32 = 0;
                        for fy in 0..filter_shape.h {
                            let in_y = in_y_origin + (params.dilation_h * fy) as isize;
                            for fx in 0..filter_shape.w {
                                let in_x = in_x_origin + (params.dilation_w * fx) as isize;
                                if in_y < 0 || in_y >= in_h || in_x < 0 || in_x >= in_w {
                                    continue;
                                }
                                let x = i32::from(
                                    input[input_shape.offset(b, in_y as usize, in_x as usize, ic)],
                                );
                                let w = i32::from(filter[filter_shape.offset(0, fy, fx, oc)]);
                                acc = acc.wrapping_add(w * (x + params.input_offset));
                            }
                        }
                        if let Some(bias) = bias {
                            acc = acc.wrapping_add(bias[oc]);
                        }
                        let (mul, shift) = (output_multiplier[oc], output_shift[oc]);
                        output[output_shape.offset(b, out_y, out_x, oc)] =
                            requantize(acc, mul, shift, params.output_offset, lo, hi);
                    }
                }
            }
        }
    }
}

/// Padded rows and columns of a group's widened input on the Cortex-M DSP path:
/// every input position some output window reads, padding included.
const fn padded_extent(out: usize, stride: usize, dilation: usize, filter: usize) -> usize {
    if out == 0 || filter == 0 {
        return 0;
    }
    (out - 1) * stride + dilation * (filter - 1) + 1
}

/// Filter taps of the Cortex-M DSP path's tap table (larger filters skip that path).
#[cfg(all(target_arch = "arm", feature = "armv7em-dsp"))]
const MAX_DSP_TAPS: usize = 25;

/// Recommended scratch length (bytes) of [`depthwise_conv_per_channel_fast`]: on a
/// Cortex-M with the DSP extension, four channels of the input widened to int16
/// with the input offset added and the padding as zeros (8 bytes per position,
/// plus alignment slack); elsewhere 0.
pub const fn depthwise_scratch_len(
    params: &DepthwiseParams,
    filter_shape: Dims4,
    output_shape: Dims4,
) -> usize {
    if !cfg!(all(target_arch = "arm", feature = "armv7em-dsp")) {
        return 0;
    }
    let h = padded_extent(
        output_shape.h,
        params.stride_h,
        params.dilation_h,
        filter_shape.h,
    );
    let w = padded_extent(
        output_shape.w,
        params.stride_w,
        params.dilation_w,
        filter_shape.w,
    );
    8 * h * w + 8
}

/// Fast int8 depthwise convolution (SSE2 over 8 channels at a time on x86_64,
/// `SMLABB`/`SMLATT` over 4 on a Cortex-M with the DSP extension), bit-exact
/// with [`depthwise_conv_per_channel`]; same arguments plus `scratch`
/// ([`depthwise_scratch_len`] bytes for the Cortex-M's fastest path; any length works).
///
/// Depth multipliers other than 1, and requantization constants outside the SIMD
/// path's range (negative multipliers, shifts below -31), use the reference.
pub fn depthwise_conv_per_channel_fast(
    params: &DepthwiseParams,
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
    #[cfg(target_arch = "x86_64")]
    if depthwise_sse2(params, m, s, xs, x, fs, f, b, ys, output) {
        return;
    }
    #[cfg(all(target_arch = "arm", feature = "armv7em-dsp"))]
    if depthwise_dsp(params, m, s, xs, x, fs, f, b, ys, output, scratch) {
        return;
    }
    let _ = scratch;
    depthwise_conv_per_channel(params, m, s, xs, x, fs, f, b, ys, output);
}

/// The Cortex-M DSP path of [`depthwise_conv_per_channel_fast`] (depth
/// multiplier 1): four channels at a time, their requantization derived once
/// for every pixel; per in-bounds tap one word of inputs and one of weights,
/// widened with `SXTB16`, the input offset added with `SADD16`, the four
/// products accumulated with `SMLABB` / `SMLATT`. The in-bounds taps of an
/// output pixel are found once, not tested per tap. Returns false, writing
/// nothing, when it does not apply.
#[cfg(all(target_arch = "arm", feature = "armv7em-dsp"))]
fn depthwise_dsp(
    params: &DepthwiseParams,
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
    let depth = output_shape.c;
    let off = params.input_offset;
    // x + offset must fit an int16 lane (true for any int8 zero point), and the
    // buffers must hold their shapes: the unchecked reads below rely on it.
    if params.depth_multiplier != 1
        || input_shape.c != depth
        || filter_shape.c != depth
        || filter_shape.n != 1
        || !(-32_768..=32_767).contains(&off)
        || input.len() < input_shape.flat_size()
        || filter.len() < filter_shape.flat_size()
        || output.len() < output_shape.flat_size()
        || output_multiplier.len() < depth
        || output_shift.len() < depth
        || bias.is_some_and(|b| b.len() < depth)
        || output_shape.n > input_shape.n
        || (0..depth)
            .any(|c| !(-31..=31).contains(&output_shift[c]) || output_multiplier[c] == i32::MIN)
    {
        return false;
    }
    let main = depth - depth % 4;
    let off2 = (off as u16 as u32) << 16 | off as u16 as u32;
    let (lo, hi) = (params.activation_min, params.activation_max);
    for c in (0..main).step_by(4) {
        let bias = match bias {
            Some(bias) => [bias[c], bias[c + 1], bias[c + 2], bias[c + 3]],
            None => [0; 4],
        };
        let taps = filter_shape.h * filter_shape.w;
        let padded = taps <= MAX_DSP_TAPS
            && scratch.len() >= depthwise_scratch_len(params, filter_shape, output_shape);
        // Interior pixels of the unpadded path (every tap in bounds) start from
        // bias + offset * sum(w) and skip the per-tap offset; the sums wrap
        // like the reference's.
        let mut folded = bias;
        for t in 0..if padded { 0 } else { taps } {
            for (i, acc) in folded.iter_mut().enumerate() {
                let w = i32::from(filter[t * depth + c + i]);
                *acc = acc.wrapping_add(w.wrapping_mul(off));
            }
        }
        let group = DspGroup {
            params,
            input_shape,
            input,
            filter_shape,
            filter,
            output_shape,
            c,
            bias,
            folded,
            off2,
        };
        let plain: [Requantizer; 4] = core::array::from_fn(|i| {
            let (m, s) = (output_multiplier[c + i], output_shift[c + i]);
            Requantizer::new(m, s, params.output_offset, lo, hi)
        });
        // The short requantization where the accumulators are small enough.
        let bounded: [Option<BoundedRequantizer>; 4] = core::array::from_fn(|i| {
            let w = (0..taps).map(|t| filter[t * depth + c + i]);
            let bound = acc_bound(w, off, bias[i]);
            let (m, s) = (output_multiplier[c + i], output_shift[c + i]);
            BoundedRequantizer::new(m, s, params.output_offset, lo, hi, bound)
        });
        match bounded {
            [Some(a), Some(b), Some(c), Some(d)] if a.is_full_range() => {
                group.dispatch([a, b, c, d].map(FullRange), output, padded, scratch)
            }
            [Some(a), Some(b), Some(c), Some(d)] => {
                group.dispatch([a, b, c, d], output, padded, scratch)
            }
            _ => group.dispatch(plain, output, padded, scratch),
        }
    }
    // Remaining channels: the reference formula.
    let (m, s, b) = (output_multiplier, output_shift, bias);
    let (xs, x, fs, f, ys) = (input_shape, input, filter_shape, filter, output_shape);
    reference_channels(params, m, s, xs, x, fs, f, b, ys, output, main..depth);
    true
}

/// One group of four channels of [`depthwise_dsp`]: what every pixel reads.
#[cfg(all(target_arch = "arm", feature = "armv7em-dsp"))]
struct DspGroup<'a> {
    params: &'a DepthwiseParams,
    input_shape: Dims4,
    input: &'a [i8],
    filter_shape: Dims4,
    filter: &'a [i8],
    output_shape: Dims4,
    /// The group's first channel.
    c: usize,
    bias: [i32; 4],
    /// The bias plus the input offset times the filter sums.
    folded: [i32; 4],
    /// The input offset in both int16 lanes.
    off2: u32,
}

#[cfg(all(target_arch = "arm", feature = "armv7em-dsp"))]
impl DspGroup<'_> {
    /// [`run_padded`](Self::run_padded) when `padded`, else [`run`](Self::run).
    #[inline(always)]
    fn dispatch<Q: crate::requant::OutputStage>(
        &self,
        q: [Q; 4],
        output: &mut [i8],
        padded: bool,
        scratch: &mut [i8],
    ) {
        if padded {
            self.run_padded(q, output, scratch)
        } else {
            self.run(q, output)
        }
    }

    /// Every output pixel of the group's channels from a widened copy of the
    /// input: per batch, the four channels of every position a window reads
    /// as int16 with the input offset added, padding as 0 (so it adds nothing,
    /// as in the reference), lanes `(c, c + 2)` then `(c + 1, c + 3)` in two
    /// words; per tap the weights widened once, with the tap's offset in that
    /// copy. A pixel is then, per tap, one `LDM` of offset and weights, one
    /// `LDRD` of inputs and four `SMLABB`/`SMLATT`, from the bias.
    /// `scratch` holds [`depthwise_scratch_len`] bytes.
    #[inline(never)]
    fn run_padded<Q: crate::requant::OutputStage>(
        &self,
        q: [Q; 4],
        output: &mut [i8],
        scratch: &mut [i8],
    ) {
        use crate::arm_dsp::{sadd16, sxtb16, sxtb16_ror8, word};
        let (params, c) = (self.params, self.c);
        let (input_shape, filter_shape, output_shape) =
            (self.input_shape, self.filter_shape, self.output_shape);
        let depth = output_shape.c;
        let (sh, sw) = (params.stride_h, params.stride_w);
        let ph = padded_extent(output_shape.h, sh, params.dilation_h, filter_shape.h);
        let pw = padded_extent(output_shape.w, sw, params.dilation_w, filter_shape.w);
        let taps = filter_shape.h * filter_shape.w;
        // The tap table: [offset in the copy (bytes), weights (c, c + 2), weights (c + 1, c + 3)].
        let mut table = [[0u32; 3]; MAX_DSP_TAPS];
        for (t, entry) in table.iter_mut().enumerate().take(taps) {
            let (fy, fx) = (t / filter_shape.w, t % filter_shape.w);
            let at = (fy * params.dilation_h * pw + fx * params.dilation_w) * 8;
            let w = word(&self.filter[filter_shape.offset(0, fy, fx, c)..]);
            *entry = [at as u32, sxtb16(w), sxtb16_ror8(w)];
        }
        let align = scratch.as_ptr().align_offset(8);
        // SAFETY: any bit pattern is a valid u32; depthwise_scratch_len leaves
        // 8 bytes of slack for the alignment.
        let (_, copy, _) = unsafe { scratch[align..].align_to_mut::<u32>() };
        let copy = &mut copy[..2 * ph * pw];
        let (in_h, in_w) = (input_shape.h, input_shape.w);
        // Padded columns [x0, x1) hold input columns 0.. (the rest is padding).
        let x0 = params.padding_w.min(pw);
        let x1 = (params.padding_w + in_w).min(pw);
        // The padding is the same for every group and batch: zeroed once (the
        // first group), never written after.
        if c == 0 {
            copy.fill(0);
        }
        for b in 0..output_shape.n {
            for (py, row) in copy.chunks_exact_mut(2 * pw).enumerate() {
                let in_y = py as isize - params.padding_h as isize;
                if in_y < 0 || in_y >= in_h as isize || x1 <= x0 {
                    continue;
                }
                let at = input_shape.offset(b, in_y as usize, 0, c);
                // The row's channels c..c + 4 of columns 0..x1 - x0.
                let src = &self.input[at..at + (x1 - x0 - 1) * depth + 4];
                let mut p = src.as_ptr();
                for pair in row[2 * x0..2 * x1].chunks_exact_mut(2) {
                    // SAFETY: p walks columns 0..x1 - x0 of src (bounds above).
                    let x = unsafe { (p as *const u32).read_unaligned() };
                    pair[0] = sadd16(sxtb16(x), self.off2);
                    pair[1] = sadd16(sxtb16_ror8(x), self.off2);
                    p = p.wrapping_add(depth);
                }
            }
            let table = &table[..taps];
            match taps {
                9 => self.pixels::<Q, 9>(&q, output, copy, table, b, pw),
                25 => self.pixels::<Q, 25>(&q, output, copy, table, b, pw),
                _ => self.pixels::<Q, 0>(&q, output, copy, table, b, pw),
            }
        }
    }

    /// The output pixels of batch `b` from the widened `copy` (`pw` positions
    /// a row) and the tap `table`: [`tap_sum_n`] for `N` taps, [`tap_sum`] for `N = 0`.
    #[inline(always)]
    fn pixels<Q: crate::requant::OutputStage, const N: usize>(
        &self,
        q: &[Q; 4],
        output: &mut [i8],
        copy: &[u32],
        table: &[[u32; 3]],
        b: usize,
        pw: usize,
    ) {
        let (params, c, output_shape) = (self.params, self.c, self.output_shape);
        let (sh, sw) = (params.stride_h, params.stride_w);
        assert!(!table.is_empty() && (N == 0 || N == table.len()));
        let depth = output_shape.c;
        let out_end = output_shape.offset(b + 1, 0, 0, 0);
        assert!(out_end <= output.len() && c + 4 <= depth);
        let table_end = table.as_ptr_range().end;
        let mut out = output[output_shape.offset(b, 0, 0, c)..].as_mut_ptr();
        for out_y in 0..output_shape.h {
            let row = &copy[2 * out_y * sh * pw..];
            for out_x in 0..output_shape.w {
                let window = row[2 * out_x * sw..].as_ptr();
                // SAFETY: the table is not empty; every table offset plus the
                // window start lies inside the copy (padded_extent covers the
                // last tap of the last window).
                let acc = unsafe {
                    if N == 0 {
                        tap_sum(self.bias, window, table.as_ptr(), table_end)
                    } else {
                        tap_sum_n::<N>(self.bias, window, table.as_ptr())
                    }
                };
                // SAFETY: out is pixel (b, out_y, out_x)'s channel c, before
                // out_end (checked above, c + 4 <= depth).
                unsafe {
                    for (i, q) in q.iter().enumerate() {
                        *out.add(i) = q.output(acc[i]);
                    }
                }
                out = out.wrapping_add(depth);
            }
        }
    }

    /// Every output pixel of the group's channels, requantized by `q`.
    #[inline(never)]
    fn run<Q: crate::requant::OutputStage>(&self, q: [Q; 4], output: &mut [i8]) {
        use crate::window::in_bounds_taps;
        let (params, c) = (self.params, self.c);
        let (input_shape, filter_shape, output_shape) =
            (self.input_shape, self.filter_shape, self.output_shape);
        let depth = output_shape.c;
        let (x_ptr, w_ptr) = (self.input.as_ptr(), self.filter.as_ptr());
        for b in 0..output_shape.n {
            for out_y in 0..output_shape.h {
                let y0 = origin(out_y, params.stride_h, params.padding_h);
                let (fy0, fy1) =
                    in_bounds_taps(y0, params.dilation_h, filter_shape.h, input_shape.h);
                for out_x in 0..output_shape.w {
                    let x0 = origin(out_x, params.stride_w, params.padding_w);
                    let (fx0, fx1) =
                        in_bounds_taps(x0, params.dilation_w, filter_shape.w, input_shape.w);
                    let interior = fy1 - fy0 == filter_shape.h && fx1 - fx0 == filter_shape.w;
                    let in_y = (y0 + (params.dilation_h * fy0) as isize) as usize;
                    let in_x = (x0 + (params.dilation_w * fx0) as isize) as usize;
                    let taps = DspTaps {
                        // SAFETY: the first in-bounds tap of this pixel, channel c.
                        x: unsafe { x_ptr.add(input_shape.offset(b, in_y, in_x, c)) },
                        w: unsafe { w_ptr.add(filter_shape.offset(0, fy0, fx0, c)) },
                        rows: fy1 - fy0,
                        cols: fx1 - fx0,
                        x_row: params.dilation_h * input_shape.w * depth,
                        x_col: params.dilation_w * depth,
                        w_row: filter_shape.w * depth,
                        w_col: depth,
                    };
                    // SAFETY: every tap read lies in bounds (in_bounds_taps) and
                    // reads channels c..c + 4 <= depth.
                    let acc = unsafe {
                        if interior {
                            taps.accumulate::<false>(self.folded, 0)
                        } else {
                            taps.accumulate::<true>(self.bias, self.off2)
                        }
                    };
                    let at = output_shape.offset(b, out_y, out_x, c);
                    for i in 0..4 {
                        output[at + i] = q[i].output(acc[i]);
                    }
                }
            }
        }
    }
}

/// `acc` plus, per tap entry `[offset, we, wo]` in `table..end`, the products of
/// the widened inputs at `window + offset` (two words: lanes of channels
/// `(0, 2)` and `(1, 3)`) with the entry's weights.
///
/// # Safety
/// `table < end` (at least one entry), and each entry's two input words lie in
/// an 8-aligned readable buffer.
#[cfg(all(target_arch = "arm", feature = "armv7em-dsp"))]
#[inline(always)]
unsafe fn tap_sum(
    acc: [i32; 4],
    window: *const u32,
    table: *const [u32; 3],
    end: *const [u32; 3],
) -> [i32; 4] {
    let [mut a0, mut a1, mut a2, mut a3] = acc;
    // SAFETY: the caller's contract; LDM loads r3..r5 in ascending order,
    // the table's entry order.
    unsafe {
        core::arch::asm!(
            "2:",
            "ldm {t}!, {{r3, r4, r5}}",
            "add r3, r3, {x}",
            "ldrd {xe}, {xo}, [r3]",
            "smlabb {a0}, {xe}, r4, {a0}",
            "smlatt {a2}, {xe}, r4, {a2}",
            "smlabb {a1}, {xo}, r5, {a1}",
            "smlatt {a3}, {xo}, r5, {a3}",
            "cmp {t}, {end}",
            "bne 2b",
            t = inout(reg) table => _,
            end = in(reg) end,
            x = in(reg) window,
            a0 = inout(reg) a0,
            a1 = inout(reg) a1,
            a2 = inout(reg) a2,
            a3 = inout(reg) a3,
            xe = out(reg) _,
            xo = out(reg) _,
            out("r3") _,
            out("r4") _,
            out("r5") _,
            options(readonly, nostack),
        );
    }
    [a0, a1, a2, a3]
}

/// [`tap_sum`] over exactly `N` table entries, unrolled.
///
/// # Safety
/// As [`tap_sum`], with `N` entries at `table`.
#[cfg(all(target_arch = "arm", feature = "armv7em-dsp"))]
#[inline(always)]
unsafe fn tap_sum_n<const N: usize>(
    acc: [i32; 4],
    window: *const u32,
    table: *const [u32; 3],
) -> [i32; 4] {
    let [mut a0, mut a1, mut a2, mut a3] = acc;
    // SAFETY: the caller's contract; LDM loads r3..r5 in ascending order,
    // the table's entry order.
    unsafe {
        core::arch::asm!(
            ".rept {n}",
            "ldm {t}!, {{r3, r4, r5}}",
            "add r3, r3, {x}",
            "ldrd {xe}, {xo}, [r3]",
            "smlabb {a0}, {xe}, r4, {a0}",
            "smlatt {a2}, {xe}, r4, {a2}",
            "smlabb {a1}, {xo}, r5, {a1}",
            "smlatt {a3}, {xo}, r5, {a3}",
            ".endr",
            n = const N,
            t = inout(reg) table => _,
            x = in(reg) window,
            a0 = inout(reg) a0,
            a1 = inout(reg) a1,
            a2 = inout(reg) a2,
            a3 = inout(reg) a3,
            xe = out(reg) _,
            xo = out(reg) _,
            out("r3") _,
            out("r4") _,
            out("r5") _,
            options(readonly, nostack),
        );
    }
    [a0, a1, a2, a3]
}

/// The in-bounds taps of one output pixel for four channels: pointers to the
/// first tap's input and weight words, and the steps between taps.
#[cfg(all(target_arch = "arm", feature = "armv7em-dsp"))]
struct DspTaps {
    x: *const i8,
    w: *const i8,
    rows: usize,
    cols: usize,
    x_row: usize,
    x_col: usize,
    w_row: usize,
    w_col: usize,
}

#[cfg(all(target_arch = "arm", feature = "armv7em-dsp"))]
impl DspTaps {
    /// `acc` plus the four channels' products over the taps; with `OFFSET` the
    /// input offset (`off2`, both int16 lanes) is added to each input first.
    ///
    /// # Safety
    /// Every word at `x + r * x_row + k * x_col` and `w + r * w_row + k * w_col`
    /// (`r < rows`, `k < cols`) must be readable.
    #[inline(always)]
    unsafe fn accumulate<const OFFSET: bool>(&self, mut acc: [i32; 4], off2: u32) -> [i32; 4] {
        use crate::arm_dsp::{sadd16, smlabb, smlatt, sxtb16, sxtb16_ror8};
        let (mut xr, mut wr) = (self.x, self.w);
        for _ in 0..self.rows {
            let (mut xp, mut wp) = (xr, wr);
            for _ in 0..self.cols {
                let xw = (xp as *const u32).read_unaligned();
                let ww = (wp as *const u32).read_unaligned();
                // Lanes (c, c + 2) and (c + 1, c + 3).
                let (mut xe, mut xo) = (sxtb16(xw), sxtb16_ror8(xw));
                if OFFSET {
                    (xe, xo) = (sadd16(xe, off2), sadd16(xo, off2));
                }
                let (we, wo) = (sxtb16(ww), sxtb16_ror8(ww));
                acc[0] = smlabb(xe, we, acc[0]);
                acc[2] = smlatt(xe, we, acc[2]);
                acc[1] = smlabb(xo, wo, acc[1]);
                acc[3] = smlatt(xo, wo, acc[3]);
                xp = xp.wrapping_add(self.x_col);
                wp = wp.wrapping_add(self.w_col);
            }
            xr = xr.wrapping_add(self.x_row);
            wr = wr.wrapping_add(self.w_row);
        }
        acc
    }
}

/// The SSE2 path of [`depthwise_conv_per_channel_fast`]: for each group of 8
/// channels, every output pixel sums its in-bounds taps with i16 x i16 -> i32
/// products (`pmullw`/`pmulhw`, exact); remaining channels use the reference
/// formula. Returns false, writing nothing, when it does not apply.
#[cfg(target_arch = "x86_64")]
fn depthwise_sse2(
    params: &DepthwiseParams,
    output_multiplier: &[i32],
    output_shift: &[i32],
    input_shape: Dims4,
    input: &[i8],
    filter_shape: Dims4,
    filter: &[i8],
    bias: Option<&[i32]>,
    output_shape: Dims4,
    output: &mut [i8],
) -> bool {
    use crate::simd::{self, OutStage};
    use core::arch::x86_64::*;
    let depth = output_shape.c;
    let off = params.input_offset;
    let (amin, amax) = (params.activation_min, params.activation_max);
    let supported = params.depth_multiplier == 1
        && input_shape.c == depth
        && (-32_000..=32_000).contains(&off)
        && -128 <= amin
        && amin <= amax
        && amax <= 127
        && (0..depth).all(|c| simd::requant_supported(output_multiplier[c], output_shift[c]));
    if !supported {
        return false;
    }
    let (in_h, in_w) = (input_shape.h as isize, input_shape.w as isize);
    let main = depth - depth % 8;
    // Filters of up to MAX_TAPS taps keep their paired taps in registers/stack.
    const MAX_TAPS: usize = 64;
    let taps = filter_shape.h * filter_shape.w;
    let span_h = (params.dilation_h * (filter_shape.h - 1)) as isize;
    let span_w = (params.dilation_w * (filter_shape.w - 1)) as isize;
    // (dy, dx) input displacement of each tap, and its offset in the input.
    let mut tap_pos = [(0isize, 0isize); MAX_TAPS];
    let mut tap_off = [0usize; MAX_TAPS];
    for t in 0..taps.min(MAX_TAPS) {
        let (fy, fx) = (t / filter_shape.w, t % filter_shape.w);
        let (dy, dx) = (params.dilation_h * fy, params.dilation_w * fx);
        tap_pos[t] = (dy as isize, dx as isize);
        tap_off[t] = (dy * input_shape.w + dx) * depth;
    }
    // SAFETY: SSE2 (x86_64 baseline); loads read 8 bytes from slices checked to hold them.
    unsafe {
        let offset = _mm_set1_epi16(off as i16);
        let load8 = |s: &[i8]| {
            let v = _mm_loadl_epi64(s[..8].as_ptr() as *const __m128i);
            _mm_srai_epi16(_mm_unpacklo_epi8(v, v), 8)
        };
        for c0 in (0..main).step_by(8) {
            let (m, s) = (output_multiplier, output_shift);
            let out = OutStage::new(m, s, bias, depth, c0, params.output_offset, amin, amax);
            if taps <= MAX_TAPS {
                // Filter taps paired (t, t + 1), interleaved per channel for `pmaddwd`:
                // [w_t[c], w_t+1[c]] for c = 0..4 and 4..8 (a missing last tap is 0).
                let mut wp = [[_mm_setzero_si128(); 2]; MAX_TAPS / 2];
                for (pair, w) in wp.iter_mut().enumerate().take(taps.div_ceil(2)) {
                    let tap = |t: usize| {
                        if t < taps {
                            load8(&filter[t * depth + c0..])
                        } else {
                            _mm_setzero_si128()
                        }
                    };
                    let (w0, w1) = (tap(2 * pair), tap(2 * pair + 1));
                    *w = [_mm_unpacklo_epi16(w0, w1), _mm_unpackhi_epi16(w0, w1)];
                }
                let wp = &wp[..taps.div_ceil(2)];
                for b in 0..output_shape.n {
                    for out_y in 0..output_shape.h {
                        let in_y0 = origin(out_y, params.stride_h, params.padding_h);
                        for out_x in 0..output_shape.w {
                            let in_x0 = origin(out_x, params.stride_w, params.padding_w);
                            let interior = in_y0 >= 0
                                && in_y0 + span_h < in_h
                                && in_x0 >= 0
                                && in_x0 + span_w < in_w;
                            // Interior pixels: every tap at `tap_off` within `window`.
                            let window: &[i8] = if interior {
                                let at = input_shape.offset(b, in_y0 as usize, in_x0 as usize, c0);
                                &input[at..at + tap_off[taps - 1] + 8]
                            } else {
                                &[]
                            };
                            // Tap t's input (offset added; out-of-bounds taps are 0,
                            // i.e. they add nothing, as in the reference).
                            let x_at = |t: usize| {
                                if t >= taps {
                                    return _mm_setzero_si128();
                                }
                                let (dy, dx) = tap_pos[t];
                                let (in_y, in_x) = (in_y0 + dy, in_x0 + dx);
                                if in_y < 0 || in_y >= in_h || in_x < 0 || in_x >= in_w {
                                    return _mm_setzero_si128();
                                }
                                let at = input_shape.offset(b, in_y as usize, in_x as usize, c0);
                                _mm_add_epi16(load8(&input[at..]), offset)
                            };
                            let acc = if interior {
                                // Taps past the last read tap_off 0 (in the window)
                                // and meet zero weights.
                                let base = window.as_ptr();
                                let ld = |t: usize| {
                                    let v = _mm_loadl_epi64(base.add(tap_off[t]) as *const __m128i);
                                    _mm_add_epi16(
                                        _mm_srai_epi16(_mm_unpacklo_epi8(v, v), 8),
                                        offset,
                                    )
                                };
                                madd_pairs(wp, ld)
                            } else {
                                madd_pairs(wp, x_at)
                            };
                            out.store(
                                acc,
                                &mut output[output_shape.offset(b, out_y, out_x, c0)..],
                                8,
                            );
                        }
                    }
                }
                continue;
            }
            for b in 0..output_shape.n {
                for out_y in 0..output_shape.h {
                    let in_y0 = origin(out_y, params.stride_h, params.padding_h);
                    for out_x in 0..output_shape.w {
                        let in_x0 = origin(out_x, params.stride_w, params.padding_w);
                        let mut acc = [_mm_setzero_si128(); 2];
                        for fy in 0..filter_shape.h {
                            let in_y = in_y0 + (params.dilation_h * fy) as isize;
                            if in_y < 0 || in_y >= in_h {
                                continue;
                            }
                            for fx in 0..filter_shape.w {
                                let in_x = in_x0 + (params.dilation_w * fx) as isize;
                                if in_x < 0 || in_x >= in_w {
                                    continue;
                                }
                                let x = load8(
                                    &input
                                        [input_shape.offset(b, in_y as usize, in_x as usize, c0)..],
                                );
                                let x = _mm_add_epi16(x, offset);
                                let w = load8(&filter[filter_shape.offset(0, fy, fx, c0)..]);
                                let lo = _mm_mullo_epi16(x, w);
                                let hi = _mm_mulhi_epi16(x, w);
                                acc[0] = _mm_add_epi32(acc[0], _mm_unpacklo_epi16(lo, hi));
                                acc[1] = _mm_add_epi32(acc[1], _mm_unpackhi_epi16(lo, hi));
                            }
                        }
                        out.store(
                            acc,
                            &mut output[output_shape.offset(b, out_y, out_x, c0)..],
                            8,
                        );
                    }
                }
            }
        }
    }
    // Remaining channels (depth multiplier 1): the reference formula.
    let (m, s, b) = (output_multiplier, output_shift, bias);
    let (xs, x, fs, f, ys) = (input_shape, input, filter_shape, filter, output_shape);
    reference_channels(params, m, s, xs, x, fs, f, b, ys, output, main..depth);
    true
}

/// Sums tap pairs `(2j, 2j + 1)` of 8 channels: `pmaddwd` of the inputs `x(t)`
/// (i16, offset added) against the interleaved weights `wp[j]` (channels 0..4, 4..8).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn madd_pairs(
    wp: &[[core::arch::x86_64::__m128i; 2]],
    x: impl Fn(usize) -> core::arch::x86_64::__m128i,
) -> [core::arch::x86_64::__m128i; 2] {
    use core::arch::x86_64::*;
    // SAFETY: SSE2 arithmetic (x86_64 baseline).
    unsafe {
        let mut acc = [_mm_setzero_si128(); 2];
        for (pair, w) in wp.iter().enumerate() {
            let (x0, x1) = (x(2 * pair), x(2 * pair + 1));
            let lo = _mm_madd_epi16(_mm_unpacklo_epi16(x0, x1), w[0]);
            let hi = _mm_madd_epi16(_mm_unpackhi_epi16(x0, x1), w[1]);
            acc[0] = _mm_add_epi32(acc[0], lo);
            acc[1] = _mm_add_epi32(acc[1], hi);
        }
        acc
    }
}
