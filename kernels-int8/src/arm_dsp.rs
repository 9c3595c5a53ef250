//! ARMv7E-M DSP-extension primitives (Cortex-M4, M7, M33 with DSP): `SXTB16`
//! widens int8 lanes 0 and 2 (or, rotated, 1 and 3) to int16, `SADD16` adds two
//! int16 pairs, `SMLAD` multiplies two int16 pairs and adds both products to an
//! accumulator (a dot product: four int8 MACs cost two loads, four widenings and
//! two `SMLAD`s), and `SMLABB` / `SMLATT` multiply-accumulate one int16 lane
//! (the per-channel products of a depthwise convolution).
//!
//! Bit-exact with the portable loop: each product is at most 2^14 in magnitude,
//! and `SMLAD`'s 32-bit accumulation wraps like `wrapping_add` (it only sets
//! the sticky Q flag on overflow), so the sum is the same modulo 2^32.
//! Enabled by the `armv7em-dsp` feature on `target_arch = "arm"`: the target
//! triple alone does not say whether the core has the DSP extension.

use core::arch::asm;

/// Sign-extends bytes 0 and 2 of `x` to two int16 lanes.
#[inline(always)]
pub(crate) fn sxtb16(x: u32) -> u32 {
    let r: u32;
    // SAFETY: a register-only instruction of the DSP extension.
    unsafe {
        asm!("sxtb16 {r}, {x}", r = lateout(reg) r, x = in(reg) x,
             options(pure, nomem, nostack, preserves_flags))
    };
    r
}

/// Sign-extends bytes 1 and 3 of `x` to two int16 lanes.
#[inline(always)]
pub(crate) fn sxtb16_ror8(x: u32) -> u32 {
    let r: u32;
    // SAFETY: as above.
    unsafe {
        asm!("sxtb16 {r}, {x}, ror #8", r = lateout(reg) r, x = in(reg) x,
             options(pure, nomem, nostack, preserves_flags))
    };
    r
}

/// `acc + a.lo * b.lo + a.hi * b.hi` over int16 lanes, wrapping.
#[inline(always)]
pub(crate) fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    let r: i32;
    // SAFETY: register-only; it may set the Q flag, which nothing here reads.
    unsafe {
        asm!("smlad {r}, {a}, {b}, {acc}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b,
             acc = in(reg) acc, options(pure, nomem, nostack))
    };
    r
}

/// Lane-wise `a + b` over two int16 lanes, wrapping.
#[inline(always)]
pub(crate) fn sadd16(a: u32, b: u32) -> u32 {
    let r: u32;
    // SAFETY: register-only; it sets the GE flags, which nothing here reads.
    unsafe {
        asm!("sadd16 {r}, {a}, {b}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b,
             options(pure, nomem, nostack))
    };
    r
}

/// `acc + a.lo * b.lo` (int16 lanes), wrapping.
#[inline(always)]
pub(crate) fn smlabb(a: u32, b: u32, acc: i32) -> i32 {
    let r: i32;
    // SAFETY: register-only; it may set the Q flag, which nothing here reads.
    unsafe {
        asm!("smlabb {r}, {a}, {b}, {acc}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b,
             acc = in(reg) acc, options(pure, nomem, nostack))
    };
    r
}

/// `acc + a.hi * b.hi` (int16 lanes), wrapping.
#[inline(always)]
pub(crate) fn smlatt(a: u32, b: u32, acc: i32) -> i32 {
    let r: i32;
    // SAFETY: as above.
    unsafe {
        asm!("smlatt {r}, {a}, {b}, {acc}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b,
             acc = in(reg) acc, options(pure, nomem, nostack))
    };
    r
}

/// `floor((a * b + 2^31) / 2^32)`: the rounded high word of the 64-bit product.
#[inline(always)]
pub(crate) fn smmulr(a: i32, b: i32) -> i32 {
    let r: i32;
    // SAFETY: a register-only instruction of the DSP extension.
    unsafe {
        asm!("smmulr {r}, {a}, {b}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b,
             options(pure, nomem, nostack, preserves_flags))
    };
    r
}

/// The first four int8 lanes of `s` as one little-endian word (one `LDR`).
#[inline(always)]
pub(crate) fn word(s: &[i8]) -> u32 {
    assert!(s.len() >= 4);
    // SAFETY: four bytes are readable (checked); the M4 loads words unaligned.
    unsafe { (s.as_ptr() as *const u32).read_unaligned() }
}

/// `sum a[i] * b[i]` with wrapping i32 accumulation, two MACs per `SMLAD`.
#[inline(always)]
pub(crate) fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    debug_assert_eq!(a.len(), b.len());
    let (mut s0, mut s1) = (0i32, 0i32);
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        let (x, y) = (word(x), word(y));
        s0 = smlad(sxtb16(x), sxtb16(y), s0);
        s1 = smlad(sxtb16_ror8(x), sxtb16_ror8(y), s1);
    }
    let mut sum = s0.wrapping_add(s1);
    for (&x, &y) in ca.remainder().iter().zip(cb.remainder()) {
        sum = sum.wrapping_add(i32::from(x) * i32::from(y));
    }
    sum
}
