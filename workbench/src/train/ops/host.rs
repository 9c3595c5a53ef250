//! The helpers every custom CPU op shares: host memory behind CPU tensors,
//! one dtype dispatch for forward and backward passes ([`HostOp`]), and the
//! element-wise pieces of a fused activation.
//!
//! An op writes its forward and backward passes once, generic over the
//! element type; [`cpu_forward`] and [`host_backward`] pick f32 or f64 from
//! the operands and reject anything else with the op's name.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, DType, Layout, Storage, Tensor, WithDType};

use crate::train::vocab::Activation;

/// A custom op whose passes are generic functions of host slices of one dtype.
pub(crate) trait HostOp {
    /// The op's name in error messages.
    const NAME: &'static str;
    /// What the forward operands are, e.g. "input, weight and bias".
    const OPERANDS: &'static str;
    /// What the backward pass returns: one optional gradient per operand.
    type Grads;

    /// The forward pass on the contiguous operands (in [`HostOp::OPERANDS`] order).
    fn host_fwd<T: WithDType>(&self, operands: &[&[T]]) -> candle_core::Result<Vec<T>>;

    /// The backward pass on the contiguous tensors given to [`host_backward`];
    /// `input_wanted` says whether the first of them (the op's input) needs a gradient.
    fn host_bwd<T: WithDType>(
        &self,
        tensors: &[&[T]],
        input_wanted: bool,
    ) -> candle_core::Result<Self::Grads>;
}

/// Runs `op`'s forward on CPU storages of one dtype, f32 or f64.
pub(crate) fn cpu_forward<O: HostOp>(
    op: &O,
    operands: &[(&CpuStorage, &Layout)],
) -> candle_core::Result<CpuStorage> {
    fn slices<'a, T: WithDType>(
        operands: &[(&'a CpuStorage, &Layout)],
        name: &str,
    ) -> candle_core::Result<Vec<&'a [T]>> {
        operands
            .iter()
            .map(|(s, l)| cpu_slice::<T>(s, l, name))
            .collect()
    }
    let dtypes: Vec<DType> = operands.iter().map(|(s, _)| s.dtype()).collect();
    let one = |d: DType| dtypes.iter().all(|&x| x == d);
    Ok(if one(DType::F32) {
        CpuStorage::F32(op.host_fwd::<f32>(&slices(operands, O::NAME)?)?)
    } else if one(DType::F64) {
        CpuStorage::F64(op.host_fwd::<f64>(&slices(operands, O::NAME)?)?)
    } else {
        candle_core::bail!(
            "{}: expected f32 or f64 {} of one dtype, got {dtypes:?}",
            O::NAME,
            O::OPERANDS
        )
    })
}

/// Runs `op`'s backward on the host elements of `tensors` (the op's input first), in the
/// dtype of the first (f32 or f64).
pub(crate) fn host_backward<O: HostOp>(
    op: &O,
    tensors: &[&Tensor],
) -> candle_core::Result<O::Grads> {
    let wanted = tensors.first().is_some_and(|t| t.track_op());
    match tensors.first().map(|t| t.dtype()) {
        Some(DType::F32) => with_hosts::<f32, _>(tensors, O::NAME, |s| op.host_bwd(s, wanted)),
        Some(DType::F64) => with_hosts::<f64, _>(tensors, O::NAME, |s| op.host_bwd(s, wanted)),
        dt => candle_core::bail!("{}: unsupported dtype {dt:?}", O::NAME),
    }
}

/// The contiguous elements of a CPU storage seen through `layout`.
pub(crate) fn cpu_slice<'a, T: WithDType>(
    storage: &'a CpuStorage,
    layout: &Layout,
    op: &str,
) -> candle_core::Result<&'a [T]> {
    let data = storage.as_slice::<T>()?;
    match layout.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!(
            "{op}: expected a contiguous tensor, got strides {:?}",
            layout.stride()
        ),
    }
}

/// The elements of a contiguous CPU tensor, read under its storage lock.
pub(crate) fn with_host<T: WithDType, R>(
    t: &Tensor,
    op: &str,
    f: impl FnOnce(&[T]) -> candle_core::Result<R>,
) -> candle_core::Result<R> {
    with_hosts(&[t], op, |s| f(s[0]))
}

/// The elements of several contiguous CPU tensors of one dtype, read under their storage locks.
pub(crate) fn with_hosts<T: WithDType, R>(
    tensors: &[&Tensor],
    op: &str,
    f: impl FnOnce(&[&[T]]) -> candle_core::Result<R>,
) -> candle_core::Result<R> {
    let contiguous: Vec<Tensor> = tensors
        .iter()
        .map(|t| t.contiguous())
        .collect::<candle_core::Result<_>>()?;
    let guards: Vec<_> = contiguous.iter().map(|t| t.storage_and_layout()).collect();
    let slices = guards
        .iter()
        .map(|(guard, layout)| match &**guard {
            Storage::Cpu(cpu) => cpu_slice(cpu, layout, op),
            _ => candle_core::bail!("{op}: only the CPU device is supported"),
        })
        .collect::<candle_core::Result<Vec<&[T]>>>()?;
    f(&slices)
}

/// A tensor of `shape` on the CPU holding `data`.
pub(crate) fn from_host<T: WithDType>(
    data: Vec<T>,
    shape: &[usize],
) -> candle_core::Result<Tensor> {
    Tensor::from_vec(data, shape, &candle_core::Device::Cpu)
}

/// `activation(v)` for one element.
pub(crate) fn apply_activation<T: WithDType>(act: Activation, v: T) -> T {
    let (lo, hi) = match act {
        Activation::None => return v,
        Activation::Relu => (0.0, None),
        Activation::Relu6 => (0.0, Some(6.0)),
        Activation::ReluN1To1 => (-1.0, Some(1.0)),
    };
    let lo = T::from_f64(lo);
    match hi.map(T::from_f64) {
        Some(hi) if v > hi => hi,
        _ if v > lo => v,
        _ => lo,
    }
}

/// `gpre = gy` where the activation whose output was `y` has slope 1, else 0.
pub(crate) fn mask_gradient<T: WithDType>(act: Activation, gpre: &mut [T], y: &[T], gy: &[T]) {
    let (lo, hi) = match act {
        Activation::None => return gpre.copy_from_slice(gy),
        Activation::Relu => (0.0, None),
        Activation::Relu6 => (0.0, Some(6.0)),
        Activation::ReluN1To1 => (-1.0, Some(1.0)),
    };
    let (lo, hi) = (T::from_f64(lo), hi.map(T::from_f64));
    let zero = T::from_f64(0.0);
    for ((g, &y), &d) in gpre.iter_mut().zip(y).zip(gy) {
        let inside = y > lo && hi.is_none_or(|hi| y < hi);
        *g = if inside { d } else { zero };
    }
}

/// `activation(x)` for a whole tensor, differentiable with candle's own ops.
pub(crate) fn activate(x: Tensor, act: Activation) -> candle_core::Result<Tensor> {
    match act {
        Activation::None => Ok(x),
        Activation::Relu => x.relu(),
        Activation::Relu6 => x.clamp(0f32, 6f32),
        Activation::ReluN1To1 => x.clamp(-1f32, 1f32),
    }
}

/// The sum of `v`, in 8 interleaved partial sums so that it vectorizes.
pub(crate) fn sum<T: WithDType>(v: &[T]) -> T {
    let zero = T::from_f64(0.0);
    let mut lanes = [zero; 8];
    let chunks = v.chunks_exact(8);
    let mut total = zero;
    for &x in chunks.remainder() {
        total += x;
    }
    for c in chunks {
        for (l, &x) in lanes.iter_mut().zip(c) {
            *l += x;
        }
    }
    for l in lanes {
        total += l;
    }
    total
}
