//! Bounds-checked single-threaded matrix products on top of the `gemm` crate.

use candle_core::WithDType;

/// A strided read-only matrix view: element (r, c) is `data[r * rs + c * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a, T> {
    pub data: &'a [T],
    pub rs: usize,
    pub cs: usize,
}

impl<'a, T> Mat<'a, T> {
    /// A row-major matrix with `cols` columns.
    pub fn rows(data: &'a [T], cols: usize) -> Self {
        Mat {
            data,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose of a row-major matrix with `cols` columns.
    pub fn rows_t(data: &'a [T], cols: usize) -> Self {
        Mat {
            data,
            rs: 1,
            cs: cols,
        }
    }

    fn fits(&self, rows: usize, cols: usize) -> bool {
        rows == 0 || cols == 0 || (rows - 1) * self.rs + (cols - 1) * self.cs < self.data.len()
    }
}

/// `dst[m, n] (row-major) = a[m, k] * b[k, n]`, or `+=` when `accumulate`.
pub(crate) fn matmul<T: WithDType>(
    dst: &mut [T],
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_, T>,
    b: Mat<'_, T>,
    accumulate: bool,
) {
    assert!(dst.len() >= m * n, "matmul: dst too small");
    assert!(a.fits(m, k) && b.fits(k, n), "matmul: operand too small");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(T::from_f64(0.0));
        }
        return;
    }
    // SAFETY: every index the product touches was bounds-checked above: dst
    // holds m*n row-major elements, a and b hold their strided extents.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            T::from_f64(1.0),
            T::from_f64(1.0),
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_small_by_hand() {
        // a = [[1, 2, 3], [4, 5, 6]], b = [[1, 0], [0, 1], [1, 1]]
        let a = [1f32, 2., 3., 4., 5., 6.];
        let b = [1f32, 0., 0., 1., 1., 1.];
        let mut d = [0f32; 4];
        matmul(&mut d, 2, 2, 3, Mat::rows(&a, 3), Mat::rows(&b, 2), false);
        // row 0: [1+3, 2+3]; row 1: [4+6, 5+6]
        assert_eq!(d, [4., 5., 10., 11.]);
        // a^T (3x2) * a (2x3)... use transposed view: a^T[0] = [1, 4]
        let mut e = [0f32; 9];
        matmul(&mut e, 3, 3, 2, Mat::rows_t(&a, 3), Mat::rows(&a, 3), false);
        // e[0][0] = 1*1 + 4*4 = 17; e[1][2] = 2*3 + 5*6 = 36
        assert_eq!(e[0], 17.);
        assert_eq!(e[5], 36.);
        // accumulate adds the product again
        matmul(&mut d, 2, 2, 3, Mat::rows(&a, 3), Mat::rows(&b, 2), true);
        assert_eq!(d, [8., 10., 20., 22.]);
    }
}
