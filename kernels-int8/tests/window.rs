//! `Window::spatial`: output size and leading padding, as TFLite's
//! `ComputePaddingHeightWidth` gives them (hand-checked).

use kernels_int8::{Padding, Spatial, Window};

fn window(padding: Padding, stride: usize) -> Window {
    Window {
        padding,
        stride_w: stride,
        stride_h: stride,
    }
}

fn square(out: usize, pad: usize) -> Option<Spatial> {
    Some(Spatial {
        out_h: out,
        out_w: out,
        padding_h: pad,
        padding_w: pad,
    })
}

#[test]
fn same_and_valid_sizes() {
    // SAME 28, 3x3, stride 1: 28 out, (27 + 3 - 28) / 2 = 1 before.
    assert_eq!(
        window(Padding::Same, 1).spatial(28, 28, 3, 3, 1, 1),
        square(28, 1)
    );
    // VALID 28, 3x3, stride 1: 26 out, no padding.
    assert_eq!(
        window(Padding::Valid, 1).spatial(28, 28, 3, 3, 1, 1),
        square(26, 0)
    );
    // SAME 5, 3x3, stride 2: 3 out, needs 2 * 2 + 3 = 7, so 1 before and 1 after.
    assert_eq!(
        window(Padding::Same, 2).spatial(5, 5, 3, 3, 1, 1),
        square(3, 1)
    );
    // SAME 4, 3x3, stride 2: 2 out, needs 5, the odd one goes after: 0 before.
    assert_eq!(
        window(Padding::Same, 2).spatial(4, 4, 3, 3, 1, 1),
        square(2, 0)
    );
    // VALID 7, 3x3 dilated by 2 (effective 5): 3 out.
    assert_eq!(
        window(Padding::Valid, 1).spatial(7, 7, 3, 3, 2, 2),
        square(3, 0)
    );
}

#[test]
fn filter_that_does_not_fit_has_no_output() {
    // VALID 2, 3x3: nothing fits.
    assert_eq!(window(Padding::Valid, 1).spatial(2, 2, 3, 3, 1, 1), None);
    // Height fits, width does not.
    assert_eq!(window(Padding::Valid, 1).spatial(8, 2, 3, 3, 1, 1), None);
}
