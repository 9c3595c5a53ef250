//! Hand-checkable cases for the kernels the converter-made vectors do not reach
//! (PRELU, new-axis slices, wrapping int8 SUM) and round trips between the data-movement ops.

use kernels_int8::strided_slice::{prepare, strided_slice, StridedSliceAttrs};
use kernels_int8::{
    abs, add, broadcast, gather, lut, pack, pad, prelu, reduce, rsqrt, split, sum, unpack,
};

fn attrs<'a>(begin: &'a [i32], end: &'a [i32], strides: &'a [i32]) -> StridedSliceAttrs<'a> {
    StridedSliceAttrs {
        begin,
        end,
        strides,
        begin_mask: 0,
        end_mask: 0,
        ellipsis_mask: 0,
        new_axis_mask: 0,
        shrink_axis_mask: 0,
        offset: false,
    }
}

#[test]
fn strided_slice_new_axis_keeps_data() {
    // x[:, None, :] on a [2, 3] tensor: shape [2, 1, 3], same data.
    let (b, e, s) = ([0, 0, 0], [0, 0, 0], [1, 1, 1]);
    let mut a = attrs(&b, &e, &s);
    a.begin_mask = 0b101;
    a.end_mask = 0b101;
    a.new_axis_mask = 0b010;
    let spec = prepare(&[2, 3], &a).unwrap();
    assert_eq!(&spec.output_shape[..spec.output_rank], &[2, 1, 3]);
    let mut out = [0i8; 6];
    strided_slice(&spec, &[2, 3], &[1, 2, 3, 4, 5, 6], &mut out);
    assert_eq!(out, [1, 2, 3, 4, 5, 6]);
}

#[test]
fn strided_slice_reverse_and_offset() {
    // x[::-1] on [0, 1, 2, 3].
    let (b, e, s) = ([0], [0], [-1]);
    let mut a = attrs(&b, &e, &s);
    a.begin_mask = 1;
    a.end_mask = 1;
    let spec = prepare(&[4], &a).unwrap();
    let mut out = [0f32; 4];
    strided_slice(&spec, &[4], &[0.0, 1.0, 2.0, 3.0], &mut out);
    assert_eq!(out, [3.0, 2.0, 1.0, 0.0]);
    // offset: end = begin + 2 -> x[1:3].
    let (b, e, s) = ([1], [2], [1]);
    let mut a = attrs(&b, &e, &s);
    a.offset = true;
    let spec = prepare(&[4], &a).unwrap();
    let mut out = [0i8; 2];
    strided_slice(&spec, &[4], &[10, 11, 12, 13], &mut out);
    assert_eq!(out, [11, 12]);
}

#[test]
fn strided_slice_rejects_out_of_range_shrink() {
    let (b, e, s) = ([5], [6], [1]);
    let mut a = attrs(&b, &e, &s);
    a.shrink_axis_mask = 1;
    assert!(prepare(&[4], &a).is_err());
}

#[test]
fn prelu_int8_by_hand() {
    // s_in = 0.5, s_alpha = 0.25, s_out = 0.5, zero points 0; alpha q = 2 (0.5).
    // x = -4 (-2.0) -> -1.0 -> q -2; x = 6 (3.0) -> q 6.
    let p = prelu::prepare(0.5, 0, 0.25, 0, 0.5, 0);
    let mut out = [0i8; 2];
    prelu::prelu(&p, &[2], &[-4, 6], &[1], &[2], &mut out);
    assert_eq!(out, [-2, 6]);
}

#[test]
fn add_broadcast_equals_add_on_equal_shapes() {
    let p = add::prepare(0.02, 3, 0.05, -7, 0.06, 1, -128, 127);
    let a: Vec<i8> = (0..60).map(|i| (i * 37 % 256) as u8 as i8).collect();
    let b: Vec<i8> = (0..60).map(|i| (i * 91 % 256) as u8 as i8).collect();
    let mut want = vec![0i8; 60];
    add::add(&p, &a, &b, &mut want);
    let mut got = vec![0i8; 60];
    add::add_broadcast(&p, &[3, 4, 5], &a, &[3, 4, 5], &b, &[3, 4, 5], &mut got);
    assert_eq!(got, want);
    // A [5] row broadcast over [3, 4, 5] is the same as repeating it.
    let row = &b[..5];
    let tiled: Vec<i8> = (0..60).map(|i| row[i % 5]).collect();
    add::add(&p, &a, &tiled, &mut want);
    add::add_broadcast(&p, &[3, 4, 5], &a, &[5], row, &[3, 4, 5], &mut got);
    assert_eq!(got, want);
}

#[test]
fn broadcast_shapes() {
    let mut out = [0; broadcast::MAX_DIMS];
    assert_eq!(
        broadcast::broadcast_shape(&[2, 1, 5], &[3, 1], &mut out),
        Some(3)
    );
    assert_eq!(&out[..3], &[2, 3, 5]);
    assert_eq!(broadcast::broadcast_shape(&[2, 4], &[3], &mut out), None);
}

#[test]
fn int8_sum_on_shared_quantization_wraps_like_tflite() {
    // TFLite sums in int8 arithmetic there: 100 + 100 wraps to -56.
    let mask = reduce::axis_mask(2, &[1]).unwrap();
    let mut out = [0i8; 2];
    sum::sum_same_quantization(&[2, 2], &mask, &[100, 100, 1, 2], &mut out);
    assert_eq!(out, [-56, 3]);
}

#[test]
fn pad_fills_borders() {
    let mut out = [0i8; 12];
    pad::pad(&[2, 2], &[(1, 0), (1, 1)], 9, &[1, 2, 3, 4], &mut out);
    assert_eq!(out, [9, 9, 9, 9, 9, 1, 2, 9, 9, 3, 4, 9]);
}

#[test]
fn unpack_pack_and_split_gather_round_trip() {
    let x: Vec<i8> = (0..24).collect();
    let shape = [2, 3, 4];
    let mut parts = vec![vec![0i8; 8]; 3];
    let mut refs: Vec<&mut [i8]> = parts.iter_mut().map(|p| &mut p[..]).collect();
    unpack::unpack(&shape, 1, &x, &mut refs);
    let refs: Vec<&[i8]> = parts.iter().map(|p| &p[..]).collect();
    let mut back = vec![0i8; 24];
    pack::pack(&[2, 4], 1, &refs, &mut back);
    assert_eq!(back, x);
    // split along the last axis, then gather the identity permutation.
    let mut a = vec![0i8; 6];
    let mut b = [0i8; 18];
    split::split(&shape, 2, &[1, 3], &x, &mut [&mut a[..], &mut b[..]]);
    assert_eq!(a, [0, 4, 8, 12, 16, 20]);
    let mut g = vec![0i8; 24];
    gather::gather(&shape, 2, &x, &[0, 1, 2, 3], &mut g);
    assert_eq!(g, x);
}

#[test]
fn float_helpers_round_like_libm() {
    // Correctly rounded f32 values.
    assert_eq!(lut::exp_f32(1.0), core::f32::consts::E);
    assert_eq!(lut::exp_f32(0.0), 1.0);
    assert_eq!(lut::tanh_f32(0.0), 0.0);
    assert_eq!(rsqrt::sqrt_f32(2.0), core::f32::consts::SQRT_2);
    assert_eq!(rsqrt::sqrt_f32(0.25), 0.5);
    for i in 1..2000 {
        let x = i as f32 * 0.013;
        assert!((lut::exp_f32(-x) - (-x).exp()).abs() <= f32::EPSILON * (-x).exp());
        assert!((lut::tanh_f32(x) - x.tanh()).abs() <= 2.0 * f32::EPSILON);
        assert_eq!(rsqrt::sqrt_f32(x), x.sqrt());
    }
}

#[test]
fn int8_sum_rescale_reads_bytes_as_uint8_like_tflite_2_21() {
    // Probed on ai-edge-litert 2.3.0 (BUILTIN_REF), SUM over 5 elements, s_in 0.023520289
    // zp 0, s_out 0.08653324 zp -10: -100 reads as 156, 5 * 156 * 0.2718 - 10 = 202 -> byte -54;
    // -1 reads as 255 and saturates at 255 (-1); 0 gives -10, clamped to 0.
    let (m, s) = sum::prepare(0.023_520_289, 0.086_533_24);
    let mask = reduce::axis_mask(2, &[1]).unwrap();
    let mut sums = [0i32; 3];
    let mut out = [0i8; 3];
    let x = [
        -100i8, -100, -100, -100, -100, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0,
    ];
    sum::sum_rescale(m, s, 0, -10, &[3, 5], &mask, &x, &mut sums, &mut out);
    assert_eq!(out, [-54, -1, 0]);
}

/// ABS of every int8 value with the scales of `tests/refs/keras3/rsqrt_int8`'s
/// ABS (in 0.02395816333591938 zp -15, out 0.015323047526180744 zp -128), as
/// ai_edge_litert 2.3.0's BUILTIN_REF kernel computes it (the model's tensor 2).
#[test]
fn abs_int8_matches_tflite_on_every_input() {
    const WANT: [i8; 256] = [
        49, 47, 46, 44, 42, 41, 39, 38, 36, 35, 33, 31, 30, 28, 27, 25, 24, 22, 21, 19, 17, 16, 14,
        13, 11, 10, 8, 6, 5, 3, 2, 0, -1, -3, -4, -6, -8, -9, -11, -12, -14, -15, -17, -19, -20,
        -22, -23, -25, -26, -28, -29, -31, -33, -34, -36, -37, -39, -40, -42, -44, -45, -47, -48,
        -50, -51, -53, -55, -56, -58, -59, -61, -62, -64, -65, -67, -69, -70, -72, -73, -75, -76,
        -78, -80, -81, -83, -84, -86, -87, -89, -90, -92, -94, -95, -97, -98, -100, -101, -103,
        -105, -106, -108, -109, -111, -112, -114, -115, -117, -119, -120, -122, -123, -125, -126,
        -128, -126, -125, -123, -122, -120, -119, -117, -115, -114, -112, -111, -109, -108, -106,
        -105, -103, -101, -100, -98, -97, -95, -94, -92, -90, -89, -87, -86, -84, -83, -81, -80,
        -78, -76, -75, -73, -72, -70, -69, -67, -65, -64, -62, -61, -59, -58, -56, -55, -53, -51,
        -50, -48, -47, -45, -44, -42, -40, -39, -37, -36, -34, -33, -31, -29, -28, -26, -25, -23,
        -22, -20, -19, -17, -15, -14, -12, -11, -9, -8, -6, -4, -3, -1, 0, 2, 3, 5, 6, 8, 10, 11,
        13, 14, 16, 17, 19, 21, 22, 24, 25, 27, 28, 30, 31, 33, 35, 36, 38, 39, 41, 42, 44, 46, 47,
        49, 50, 52, 53, 55, 56, 58, 60, 61, 63, 64, 66, 67, 69, 71, 72, 74, 75, 77, 78, 80, 82, 83,
        85, 86, 88, 89, 91, 92, 94,
    ];
    let p = abs::prepare(0.023_958_163, -15, 0.015_323_047_5, -128);
    assert!(p.rescale.is_some());
    let input: Vec<i8> = (-128..=127).collect();
    let mut out = [0i8; 256];
    abs::abs(&p, &input, &mut out);
    assert_eq!(out, WANT);
}

#[test]
fn abs_on_equal_scales_only_shifts() {
    let p = abs::prepare(0.5, 3, 0.5, -100);
    assert_eq!(p.rescale, None);
    let mut out = [0i8; 4];
    abs::abs(&p, &[3, -128, 127, 0], &mut out);
    // |x - 3| - 100: 0, 131, 124, 3 less 100.
    assert_eq!(out, [-100, 31, 24, -97]);
    let mut f = [0f32; 3];
    abs::abs_f32(&[-1.5, 0.0, 2.0], &mut f);
    assert_eq!(f, [1.5, 0.0, 2.0]);
}
