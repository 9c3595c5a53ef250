//! `#![no_std]` int8 kernels, bit-exact with TFLite's reference kernels.
//!
//! One TFLite op per module. Every `eval`-style function takes integers only
//! (offsets, fixed-point multipliers, activation bounds); the `prepare`-style
//! helpers compute those integers from float scales exactly as TFLite's
//! `Prepare` functions do. Layouts are TFLite's: activations NHWC, CONV_2D
//! filters OHWI, DEPTHWISE_CONV_2D filters 1HW(I*M), FULLY_CONNECTED weights
//! `[out, in]`. Preconditions (matching lengths, valid shapes) are checked with
//! debug assertions only: callers validate shapes before calling.
#![no_std]
// The kernels mirror TFLite's reference signatures (params, shapes, buffers).
#![allow(clippy::too_many_arguments)]

pub mod abs;
pub mod add;
#[cfg(all(target_arch = "arm", feature = "armv7em-dsp"))]
mod arm_dsp;
pub mod average_pool_2d;
#[cfg(target_arch = "x86_64")]
mod avx2;
pub mod broadcast;
pub mod concatenation;
pub mod conv_2d;
pub mod conv_2d_f32;
pub mod depthwise_conv_2d;
pub mod depthwise_conv_2d_f32;
pub mod dequantize;
pub mod fully_connected;
pub mod fully_connected_f32;
pub mod fully_connected_litert;
pub mod gather;
pub mod hard_swish;
pub mod hybrid;
pub mod leaky_relu;
pub mod logistic;
pub mod lut;
pub mod max_pool_2d;
pub mod maximum;
pub mod mean;
pub mod minimum;
pub mod mul;
pub mod neg;
pub mod pack;
pub mod pad;
pub mod padding;
pub mod pool_2d_f32;
pub mod prelu;
pub mod quantize;
pub mod reduce;
pub mod relu;
pub mod requant;
pub mod reshape;
pub mod rsqrt;
pub mod shape;
#[cfg(target_arch = "x86_64")]
mod simd;
pub mod softmax;
pub mod softmax_f32;
pub mod split;
pub mod squared_difference;
pub mod strided_slice;
pub mod sub;
pub mod sum;
pub mod tanh;
pub mod transpose;
pub mod unpack;
mod window;

pub use padding::{Padding, Spatial, Window};
pub use requant::Activation;
pub use shape::Dims4;
