//! AVX2 paths on x86_64, chosen at run time: the CPU and the OS are asked once
//! (`CPUID`, `XGETBV`), since the crate is `no_std` and builds for the SSE2
//! baseline; the SSE2 paths stay for CPUs without AVX2.

use core::arch::x86_64::*;
use core::sync::atomic::{AtomicU8, Ordering};

/// Whether this CPU and OS run AVX2 code (0 not asked yet, 1 no, 2 yes).
static AVX2: AtomicU8 = AtomicU8::new(0);

/// Whether AVX2 code can run here (checked once, then cached).
#[inline]
pub(crate) fn available() -> bool {
    match AVX2.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let yes = detect();
            AVX2.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            yes
        }
    }
}

/// CPUID leaf 7 says AVX2, leaf 1 says AVX and OSXSAVE, and XCR0 says the OS
/// saves the YMM registers.
fn detect() -> bool {
    // SAFETY: CPUID exists on every x86_64 CPU; XGETBV only after OSXSAVE says it does.
    unsafe {
        if __cpuid(0).eax < 7 {
            return false;
        }
        let ecx = __cpuid(1).ecx;
        let (osxsave, avx) = (ecx & (1 << 27) != 0, ecx & (1 << 28) != 0);
        if !(osxsave && avx) || xcr0() & 0b110 != 0b110 {
            return false;
        }
        __cpuid_count(7, 0).ebx & (1 << 5) != 0
    }
}

#[target_feature(enable = "xsave")]
unsafe fn xcr0() -> u64 {
    _xgetbv(0)
}

/// Rows of a fully connected layer computed together: each widened input chunk feeds this many.
pub(crate) const FC_ROWS: usize = 8;

/// `sum_k (w[r][k] + w_off) * (x[k] + x_off)` (wrapping i32) for the [`FC_ROWS`]
/// rows `w[r]` of length `x.len()`: 16 products per row per step on i16 lanes
/// (`vpmovsxbw`, `vpmaddwd`), exact since `w + w_off` and `x + x_off` fit i16.
///
/// # Safety
/// AVX2 must be [`available`].
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn dot_rows_offset(
    w: [&[i8]; FC_ROWS],
    x: &[i8],
    w_off: i16,
    x_off: i16,
) -> [i32; FC_ROWS] {
    let k = x.len();
    let main = k - k % 16;
    let xo = _mm256_set1_epi16(x_off);
    let wo = _mm256_set1_epi16(w_off);
    let mut acc = [_mm256_setzero_si256(); FC_ROWS];
    let load16 = |s: &[i8], j: usize| {
        // 16 bytes at j < main <= s.len() - 15.
        _mm256_cvtepi8_epi16(_mm_loadu_si128(s[j..j + 16].as_ptr() as *const __m128i))
    };
    let mut j = 0;
    if w_off == 0 {
        while j < main {
            let xv = _mm256_add_epi16(load16(x, j), xo);
            for r in 0..FC_ROWS {
                acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(xv, load16(w[r], j)));
            }
            j += 16;
        }
    } else {
        while j < main {
            let xv = _mm256_add_epi16(load16(x, j), xo);
            for r in 0..FC_ROWS {
                let wv = _mm256_add_epi16(load16(w[r], j), wo);
                acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(xv, wv));
            }
            j += 16;
        }
    }
    let mut out = [0i32; FC_ROWS];
    for r in 0..FC_ROWS {
        let mut lanes = [0i32; 8];
        _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, acc[r]);
        let mut s = lanes.iter().fold(0i32, |s, &v| s.wrapping_add(v));
        for (&a, &b) in w[r][main..k].iter().zip(&x[main..k]) {
            s = s.wrapping_add(
                (i32::from(a) + i32::from(w_off)) * (i32::from(b) + i32::from(x_off)),
            );
        }
        out[r] = s;
    }
    out
}
