//! STRIDED_SLICE, generic over the element type (TFLite's `strided_slice.cc`, TF's slicing semantics).
//!
//! [`prepare`] turns the sparse slice spec (begin/end/strides with the begin,
//! end, ellipsis, new-axis and shrink-axis masks, and TFLite's `offset` flag)
//! into one `(start, stride, count)` per input dimension plus the output
//! shape; [`strided_slice`] then copies. New axes and shrunk axes only change
//! the output shape, never the data order.

pub use crate::broadcast::MAX_DIMS;

/// Attributes of a STRIDED_SLICE op (its begin/end/strides tensors and options).
#[derive(Debug, Clone, Copy)]
pub struct StridedSliceAttrs<'a> {
    /// Begin index of each sparse dimension.
    pub begin: &'a [i32],
    /// End index of each sparse dimension (a length when `offset`).
    pub end: &'a [i32],
    /// Stride of each sparse dimension (nonzero).
    pub strides: &'a [i32],
    /// Bit `i`: ignore `begin[i]` (start at the first element in stride direction).
    pub begin_mask: u32,
    /// Bit `i`: ignore `end[i]` (run to the last element in stride direction).
    pub end_mask: u32,
    /// Bit `i`: sparse dimension `i` is an ellipsis (full range over the unspecified dims).
    pub ellipsis_mask: u32,
    /// Bit `i`: insert a dimension of size 1.
    pub new_axis_mask: u32,
    /// Bit `i`: take the single element `begin[i]` and drop the dimension.
    pub shrink_axis_mask: u32,
    /// TFLite's `offset`: `end` is relative to `begin`.
    pub offset: bool,
}

/// The dense slice: per input dimension a start, a stride and an element count; plus the output shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SliceSpec {
    /// Input rank.
    pub rank: usize,
    /// First index taken in each input dimension.
    pub start: [i64; MAX_DIMS],
    /// Step in each input dimension.
    pub stride: [i64; MAX_DIMS],
    /// Number of indices taken in each input dimension.
    pub count: [usize; MAX_DIMS],
    /// Output rank (after new axes and shrinking).
    pub output_rank: usize,
    /// Output shape (first `output_rank` entries).
    pub output_shape: [usize; MAX_DIMS],
}

/// Why a slice spec was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SliceError {
    /// begin, end and strides lengths differ, or there are too many dimensions.
    BadLength,
    /// A stride is zero.
    ZeroStride,
    /// A shrunk index lies outside its dimension.
    ShrinkOutOfRange,
}

/// Builds the dense [`SliceSpec`] of `attrs` over an input of shape `shape`.
pub fn prepare(shape: &[usize], attrs: &StridedSliceAttrs) -> Result<SliceSpec, SliceError> {
    let n = attrs.begin.len();
    let rank = shape.len();
    if attrs.end.len() != n || attrs.strides.len() != n || rank > MAX_DIMS || n > 32 {
        return Err(SliceError::BadLength);
    }
    let bit = |m: u32, i: usize| m & (1 << i) != 0;
    let mut spec = SliceSpec {
        rank,
        start: [0; MAX_DIMS],
        stride: [1; MAX_DIMS],
        count: [1; MAX_DIMS],
        output_rank: 0,
        output_shape: [1; MAX_DIMS],
    };
    let push_out = |spec: &mut SliceSpec, d: usize| -> Result<(), SliceError> {
        if spec.output_rank == MAX_DIMS {
            return Err(SliceError::BadLength);
        }
        spec.output_shape[spec.output_rank] = d;
        spec.output_rank += 1;
        Ok(())
    };
    // A full range over dense dimension `d`.
    let full = |spec: &mut SliceSpec, d: usize| {
        spec.start[d] = 0;
        spec.stride[d] = 1;
        spec.count[d] = shape[d];
    };
    let mut dense = 0usize;
    for i in 0..n {
        if bit(attrs.ellipsis_mask, i) {
            // The ellipsis covers every dimension the later sparse entries leave
            // (new axes after it consume no input dimension).
            let later = (i + 1..n).filter(|&j| !bit(attrs.new_axis_mask, j)).count();
            let upto = rank.saturating_sub(later).max(dense);
            while dense < upto {
                full(&mut spec, dense);
                push_out(&mut spec, shape[dense])?;
                dense += 1;
            }
            continue;
        }
        if bit(attrs.new_axis_mask, i) {
            push_out(&mut spec, 1)?;
            continue;
        }
        if dense >= rank {
            return Err(SliceError::BadLength);
        }
        let dim = shape[dense] as i64;
        let stride = i64::from(attrs.strides[i]);
        if stride == 0 {
            return Err(SliceError::ZeroStride);
        }
        let mut b = i64::from(attrs.begin[i]);
        if bit(attrs.shrink_axis_mask, i) {
            if b < 0 {
                b += dim;
            }
            if b < 0 || b >= dim {
                return Err(SliceError::ShrinkOutOfRange);
            }
            spec.start[dense] = b;
            spec.stride[dense] = 1;
            spec.count[dense] = 1;
            dense += 1;
            continue;
        }
        let mut e = i64::from(attrs.end[i]);
        if attrs.offset {
            e += b;
        }
        // TF's canonicalization: masked ends take the extreme of the valid
        // range in stride direction; others wrap negatives once and clamp.
        let (lo, hi) = if stride > 0 { (0, dim) } else { (-1, dim - 1) };
        let canonical = |x: i64, masked: bool, is_end: bool| {
            if masked {
                if (stride > 0) != is_end {
                    lo
                } else {
                    hi
                }
            } else {
                let x = if x < 0 { x + dim } else { x };
                x.clamp(lo, hi)
            }
        };
        let b = canonical(b, bit(attrs.begin_mask, i), false);
        let e = canonical(e, bit(attrs.end_mask, i), true);
        let count = if (stride > 0 && e > b) || (stride < 0 && e < b) {
            ((e - b).abs() + stride.abs() - 1) / stride.abs()
        } else {
            0
        };
        spec.start[dense] = b;
        spec.stride[dense] = stride;
        spec.count[dense] = count as usize;
        push_out(&mut spec, count as usize)?;
        dense += 1;
    }
    // An implicit ellipsis at the end: the remaining dimensions in full.
    while dense < rank {
        full(&mut spec, dense);
        push_out(&mut spec, shape[dense])?;
        dense += 1;
    }
    Ok(spec)
}

/// Copies the elements selected by `spec` from `input` (`shape`) to `output`, row-major.
pub fn strided_slice<T: Copy>(spec: &SliceSpec, shape: &[usize], input: &[T], output: &mut [T]) {
    let rank = spec.rank;
    debug_assert_eq!(shape.len(), rank);
    debug_assert_eq!(output.len(), spec.count[..rank].iter().product::<usize>());
    if output.is_empty() {
        return;
    }
    let mut in_stride = [0i64; MAX_DIMS];
    let mut acc = 1i64;
    for d in (0..rank).rev() {
        in_stride[d] = acc;
        acc *= shape[d] as i64;
    }
    let base: i64 = (0..rank).map(|d| spec.start[d] * in_stride[d]).sum();
    let step: [i64; MAX_DIMS] = core::array::from_fn(|d| {
        if d < rank {
            spec.stride[d] * in_stride[d]
        } else {
            0
        }
    });
    let mut idx = [0usize; MAX_DIMS];
    let mut i = base;
    for o in output.iter_mut() {
        *o = input[i as usize];
        for d in (0..rank).rev() {
            idx[d] += 1;
            i += step[d];
            if idx[d] < spec.count[d] {
                break;
            }
            i -= step[d] * spec.count[d] as i64;
            idx[d] = 0;
        }
    }
}
