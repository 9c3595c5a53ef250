//! N-D broadcasting (NumPy rules, up to [`MAX_DIMS`] dimensions), shared by the binary ops.
//!
//! Shapes are right-aligned and padded with leading 1s; a dimension of size 1 in
//! an input is repeated along the output (stride 0), as in TFLite's
//! `NdArrayDesc` / `BroadcastBinaryFunction*DSlow`.

/// Most dimensions a broadcast shape may have (TFLite's 6-D broadcast limit).
pub const MAX_DIMS: usize = 6;

/// Output shape of broadcasting `a` with `b`, or `None` when they are incompatible.
///
/// Fills `out` (first `max(a.len(), b.len())` entries) and returns its rank.
pub fn broadcast_shape(a: &[usize], b: &[usize], out: &mut [usize; MAX_DIMS]) -> Option<usize> {
    let rank = a.len().max(b.len());
    if rank > MAX_DIMS {
        return None;
    }
    for i in 0..rank {
        let da = if i + a.len() >= rank {
            a[i + a.len() - rank]
        } else {
            1
        };
        let db = if i + b.len() >= rank {
            b[i + b.len() - rank]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(rank)
}

/// Row-major strides of `shape` extended to `MAX_DIMS` on the left, 0 where a dimension is broadcast.
fn strides(shape: &[usize], out_ext: &[usize; MAX_DIMS]) -> [usize; MAX_DIMS] {
    let mut ext = [1usize; MAX_DIMS];
    ext[MAX_DIMS - shape.len()..].copy_from_slice(shape);
    let mut s = [0usize; MAX_DIMS];
    let mut acc = 1;
    for d in (0..MAX_DIMS).rev() {
        s[d] = if ext[d] == 1 && out_ext[d] != 1 {
            0
        } else {
            acc
        };
        acc *= ext[d];
    }
    s
}

/// `out[i] = f(in1[i1], in2[i2])` over the broadcast output shape `out_shape`.
///
/// # Panics
/// Debug builds panic when a shape has more than [`MAX_DIMS`] dimensions or the lengths do not match.
pub fn broadcast_binary<A: Copy, B: Copy, O>(
    shape1: &[usize],
    in1: &[A],
    shape2: &[usize],
    in2: &[B],
    out_shape: &[usize],
    out: &mut [O],
    mut f: impl FnMut(A, B) -> O,
) {
    debug_assert!(out_shape.len() <= MAX_DIMS);
    debug_assert!(shape1.len() <= out_shape.len() && shape2.len() <= out_shape.len());
    debug_assert_eq!(out.len(), out_shape.iter().product::<usize>());
    debug_assert_eq!(in1.len(), shape1.iter().product::<usize>());
    debug_assert_eq!(in2.len(), shape2.iter().product::<usize>());
    let mut ext = [1usize; MAX_DIMS];
    ext[MAX_DIMS - out_shape.len()..].copy_from_slice(out_shape);
    let s1 = strides(shape1, &ext);
    let s2 = strides(shape2, &ext);
    let mut idx = [0usize; MAX_DIMS];
    let (mut i1, mut i2) = (0usize, 0usize);
    for o in out.iter_mut() {
        *o = f(in1[i1], in2[i2]);
        // Odometer step over the output index, updating both input offsets.
        for d in (0..MAX_DIMS).rev() {
            idx[d] += 1;
            i1 += s1[d];
            i2 += s2[d];
            if idx[d] < ext[d] {
                break;
            }
            i1 -= s1[d] * ext[d];
            i2 -= s2[d] * ext[d];
            idx[d] = 0;
        }
    }
}

/// Number of elements of `shape`.
pub fn flat_size(shape: &[usize]) -> usize {
    shape.iter().product()
}
