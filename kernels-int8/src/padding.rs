//! The op vocabulary of 2-D windows (padding rule, strides, output size and
//! padding amounts), as TFLite's `padding.h`; shared by the host interpreter
//! and the board through `workbench-tflite`.

/// Spatial padding of convolutions and pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Output size `ceil(in / stride)`, zero-padded evenly (extra at the end).
    Same,
    /// Output size `ceil((in - dilated_filter + 1) / stride)`, no padding.
    Valid,
}

/// Padding rule and strides shared by 2-D convolutions and pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Padding rule.
    pub padding: Padding,
    /// Stride along width.
    pub stride_w: usize,
    /// Stride along height.
    pub stride_h: usize,
}

/// Output size and leading padding of a window over an image (TFLite's `ComputePaddingHeightWidth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spatial {
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// Rows of padding before the first input row.
    pub padding_h: usize,
    /// Columns of padding before the first input column.
    pub padding_w: usize,
}

impl Window {
    /// Output size and padding for an `in_h x in_w` image and a
    /// `filter_h x filter_w` filter with the given dilations; `None` if the
    /// filter does not fit (an output size of 0).
    pub const fn spatial(
        &self,
        in_h: usize,
        in_w: usize,
        filter_h: usize,
        filter_w: usize,
        dilation_h: usize,
        dilation_w: usize,
    ) -> Option<Spatial> {
        let out_h = output_size(self.padding, in_h, filter_h, self.stride_h, dilation_h);
        let out_w = output_size(self.padding, in_w, filter_w, self.stride_w, dilation_w);
        if out_h == 0 || out_w == 0 {
            return None;
        }
        Some(Spatial {
            out_h,
            out_w,
            padding_h: padding_before(self.stride_h, dilation_h, in_h, filter_h, out_h),
            padding_w: padding_before(self.stride_w, dilation_w, in_w, filter_w, out_w),
        })
    }
}

/// Output size along one axis (TFLite's `ComputeOutSize`); 0 if the filter does not fit.
pub const fn output_size(
    padding: Padding,
    image_size: usize,
    filter_size: usize,
    stride: usize,
    dilation: usize,
) -> usize {
    if stride == 0 || filter_size == 0 {
        return 0;
    }
    let effective_filter = (filter_size - 1) * dilation + 1;
    match padding {
        Padding::Same => image_size.div_ceil(stride),
        // TFLite computes `(image + stride - effective) / stride` in int; a
        // non-positive numerator means the filter does not fit: size 0.
        Padding::Valid => {
            if image_size + stride <= effective_filter {
                0
            } else {
                (image_size + stride - effective_filter) / stride
            }
        }
    }
}

/// Padding before the first element along one axis (TFLite's `ComputePaddingWithOffset`, without the offset).
pub const fn padding_before(
    stride: usize,
    dilation: usize,
    in_size: usize,
    filter_size: usize,
    out_size: usize,
) -> usize {
    if out_size == 0 || filter_size == 0 {
        return 0;
    }
    let effective_filter = (filter_size - 1) * dilation + 1;
    let needed = (out_size - 1) * stride + effective_filter;
    // total padding = max(needed - in, 0); the extra odd element goes after.
    if needed > in_size {
        (needed - in_size) / 2
    } else {
        0
    }
}
