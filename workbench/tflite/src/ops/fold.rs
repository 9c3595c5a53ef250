//! What the shape ops share (SHAPE, STRIDED_SLICE, PACK, GATHER, REDUCE_PROD
//! and CONCATENATION on int32 shape vectors, as Keras 3's `Flatten` and
//! `Dense` on rank > 2 inputs emit them): they only compute the shape a
//! RESHAPE receives, and RESHAPE's output tensor already holds that shape
//! once the batch is fixed. Preparation validates them and folds them into
//! [`Kernel::Folded`]: nothing runs per inference, and neither the host nor
//! the board stores their int32 outputs.

use alloc::format;
use alloc::vec::Vec;

use crate::graph::DType;
use crate::prepare::{In, Kernel, Kernels, Out, Prep};

/// Checks that the output is an int32 scalar or vector and that the inputs
/// `inputs` are int32, then folds `value` (shaped `shape`) into
/// [`Kernel::Folded`].
pub(crate) fn folded(
    p: &Prep<'_>,
    value: Vec<i32>,
    shape: Vec<usize>,
) -> crate::error::Result<Kernel> {
    let out = p.output();
    let ot = p.tensor(out);
    if ot.dtype != DType::I32 {
        return Err(p.err(format!(
            "output tensor {out}: only int32 shape computations are supported (folded at prepare), got {}",
            ot.dtype.name()
        )));
    }
    if shape.iter().product::<usize>() != value.len() {
        return Err(p.err(format!(
            "output tensor {out}: {} values for shape {shape:?}",
            value.len()
        )));
    }
    p.resize_output(shape);
    Ok(Kernel::Folded { value })
}

/// A shape vector's (or indices') values, known at prepare: a constant or a
/// folded output, int32 or int64 (narrowed, in range), `role` naming it.
pub(crate) fn known_i32(p: &Prep<'_>, role: &str, t: usize) -> crate::error::Result<Vec<i32>> {
    if p.tensor(t).data.is_none() {
        return Err(p.err(format!(
            "{role} tensor {t} is not known at prepare (only shape computations on constants and static shapes are supported)"
        )));
    }
    if p.tensor(t).dtype == DType::I64 {
        let tensor = p.tensor(t);
        let data = tensor.data.unwrap_or_default();
        if data.len() != 8 * tensor.num_elements() {
            return Err(p.err(format!(
                "{role} tensor {t}: {} bytes of data for {} int64 values",
                data.len(),
                tensor.num_elements()
            )));
        }
        return data
            .chunks_exact(8)
            .map(|c| {
                let v = i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
                i32::try_from(v)
                    .map_err(|_| p.err(format!("{role} tensor {t}: value {v} exceeds int32")))
            })
            .collect();
    }
    const_i32(p, role, t)
}

/// A rank 0 or 1 tensor (shape vectors and scalars).
pub(crate) fn vector(p: &Prep<'_>, role: &str, t: usize) -> crate::error::Result<()> {
    let s = p.tensor(t).shape;
    if s.len() > 1 {
        return Err(p.err(format!(
            "{role} tensor {t}: expected a shape vector (rank 0 or 1), got shape {s:?}"
        )));
    }
    Ok(())
}

/// The values of a constant int32 tensor (`role` names it in errors).
pub(crate) fn const_i32(p: &Prep<'_>, role: &str, t: usize) -> crate::error::Result<Vec<i32>> {
    p.expect_dtype(role, t, DType::I32)?;
    p.expect_const(role, t)?;
    let tensor = p.tensor(t);
    let data = tensor.data.unwrap_or_default();
    if data.len() != 4 * tensor.num_elements() {
        return Err(p.err(format!(
            "{role} tensor {t}: {} bytes of data for {} values",
            data.len(),
            tensor.num_elements()
        )));
    }
    Ok(data
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// An axis in `-rank..rank`, made non-negative.
pub(crate) fn axis(
    p: &Prep<'_>,
    what: &str,
    axis: i32,
    rank: usize,
) -> crate::error::Result<usize> {
    let r = rank as i64;
    let a = i64::from(axis);
    if !(-r..r).contains(&a) {
        return Err(p.err(format!("{what} {axis} out of range for rank {rank}")));
    }
    Ok(if a < 0 { (a + r) as usize } else { a as usize })
}

/// Folded nodes never run.
pub(crate) fn eval(_: &Kernel, _: &[In<'_>], _: &mut [Out<'_>], _: &mut [i8], _: Kernels) {}
