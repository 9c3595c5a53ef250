//! The custom CPU ops training runs on, each a candle custom op with a
//! direct backward: the fused convolution, the depthwise convolution,
//! pooling and training-mode batch normalization. Each depends only on the
//! shared host helpers in [`host`] (memory access, the dtype dispatch, the
//! fused activation) and on the vocabulary in [`crate::train::vocab`].

pub mod batchnorm;
pub mod conv;
pub mod depthwise;
mod gemm;
pub(crate) mod host;
pub mod pool;
#[cfg(test)]
pub(crate) mod testing;
