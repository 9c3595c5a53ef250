//! Access to the host memory behind CPU tensors, for the custom ops.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, Layout, Storage, Tensor, WithDType};

/// A custom op whose CPU forward is one generic function of three slices of one dtype.
pub(crate) trait Forward3 {
    /// The op's name in error messages.
    const NAME: &'static str;
    /// What the three operands are, e.g. "input, weight and bias".
    const OPERANDS: &'static str;
    /// The forward pass on contiguous f32 or f64 operands.
    fn fwd<T: WithDType>(&self, a: &[T], b: &[T], c: &[T]) -> Vec<T>;
}

/// Runs `op`'s forward on three CPU storages of one dtype, f32 or f64.
pub(crate) fn cpu_forward3<O: Forward3>(
    op: &O,
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
    (s3, l3): (&CpuStorage, &Layout),
) -> candle_core::Result<CpuStorage> {
    let name = O::NAME;
    Ok(match (s1, s2, s3) {
        (CpuStorage::F32(_), CpuStorage::F32(_), CpuStorage::F32(_)) => {
            CpuStorage::F32(op.fwd::<f32>(
                cpu_slice(s1, l1, name)?,
                cpu_slice(s2, l2, name)?,
                cpu_slice(s3, l3, name)?,
            ))
        }
        (CpuStorage::F64(_), CpuStorage::F64(_), CpuStorage::F64(_)) => {
            CpuStorage::F64(op.fwd::<f64>(
                cpu_slice(s1, l1, name)?,
                cpu_slice(s2, l2, name)?,
                cpu_slice(s3, l3, name)?,
            ))
        }
        _ => candle_core::bail!(
            "{name}: expected f32 or f64 {} of one dtype, got {:?}, {:?}, {:?}",
            O::OPERANDS,
            s1.dtype(),
            s2.dtype(),
            s3.dtype()
        ),
    })
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
    let t = t.contiguous()?;
    let (guard, layout) = t.storage_and_layout();
    match &*guard {
        Storage::Cpu(cpu) => f(cpu_slice(cpu, layout, op)?),
        _ => candle_core::bail!("{op}: only the CPU device is supported"),
    }
}

/// A tensor of `shape` on the CPU holding `data`.
pub(crate) fn from_host<T: WithDType>(
    data: Vec<T>,
    shape: &[usize],
) -> candle_core::Result<Tensor> {
    Tensor::from_vec(data, shape, &candle_core::Device::Cpu)
}
