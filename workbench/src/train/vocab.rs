//! The words layers, ops, models and the quantizer share: the fused
//! activation, the padding rule and the kind of a pooling window, plus the
//! output size a padding rule gives.
//!
//! `Activation` and `Padding` are the int8 kernels' own types
//! (`kernels-int8`), so a float layer and its int8 op speak of the same
//! thing. (Note for the `prep` branch, which moves `Padding` to
//! `kernels-int8`'s root: only the `pub use` below names its path.)

pub use kernels_int8::padding::Padding;
pub use kernels_int8::Activation;

/// What a pooling layer takes of each window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    /// The maximum.
    Max,
    /// The mean of the in-bounds elements.
    Average,
}

/// Output size and padding before the first element along one axis, by
/// TFLite's rule for `padding`.
pub fn conv_out_size(
    input: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    padding: Padding,
) -> Option<(usize, usize)> {
    if kernel == 0 || stride == 0 || dilation == 0 {
        return None;
    }
    let effective = (kernel - 1) * dilation + 1;
    match padding {
        Padding::Valid => {
            if input < effective {
                return None;
            }
            Some(((input - effective) / stride + 1, 0))
        }
        Padding::Same => {
            if input == 0 {
                return None;
            }
            let out = input.div_ceil(stride);
            let total = ((out - 1) * stride + effective).saturating_sub(input);
            Some((out, total / 2))
        }
    }
}
