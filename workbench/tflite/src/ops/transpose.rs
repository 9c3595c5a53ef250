//! TRANSPOSE: inputs (input, perm); a permutation known at prepare, int8 or
//! float32 (`kernels_int8::transpose`).

use alloc::format;
use alloc::vec::Vec;

#[cfg(feature = "export")]
use super::no_options;
use super::{fold, OpDef, Operands};
use crate::graph::{DType, Op};
#[cfg(feature = "export")]
use crate::graph::{Graph, Node};
use crate::prepare::{args, f32s, i8s, In, Kernel, Kernels, Out, Prep};
use crate::schema as fb;
use kernels_int8 as k;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::TRANSPOSE,
    inputs: 2..=2,
    operands: Operands::First(1),
    outputs: 1..=1,
    import: |_| Ok(Op::Transpose),
    #[cfg(feature = "export")]
    export: no_options,
    #[cfg(feature = "export")]
    version: |_: &Op, _: &Graph, _: &Node| 1,
    prepare,
    eval,
};

/// Same type in and out; `perm` a permutation of the input's dimensions; the
/// output resized to the permuted shape.
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let (input, perm_t, out) = (p.input(0)?, p.input(1)?, p.output());
    let dtype = p.int8_or_f32(input)?;
    p.expect_dtype("output", out, dtype)?;
    if dtype == DType::I8 && p.int8_act("input", input)? != p.int8_act("output", out)? {
        return Err(p.err(format!(
            "output tensor {out} quantization differs from input tensor {input}"
        )));
    }
    let shape = p.tensor(input).shape.to_vec();
    let rank = shape.len();
    if rank > k::broadcast::MAX_DIMS {
        return Err(p.err(format!(
            "input tensor {input}: rank {rank} is more than {}",
            k::broadcast::MAX_DIMS
        )));
    }
    let values = fold::known_i32(p, "perm", perm_t)?;
    let mut perm = Vec::with_capacity(rank);
    let mut seen = [false; k::broadcast::MAX_DIMS];
    for &v in &values {
        let a = fold::axis(p, "perm entry", v, rank)?;
        if seen[a] {
            return Err(p.err(format!("perm tensor {perm_t}: {values:?} repeats {a}")));
        }
        seen[a] = true;
        perm.push(a);
    }
    if perm.len() != rank {
        return Err(p.err(format!(
            "perm tensor {perm_t} has {} entries, input tensor {input} has rank {rank}",
            perm.len()
        )));
    }
    let out_shape: Vec<usize> = perm.iter().map(|&a| shape[a]).collect();
    p.resize_output(out_shape);
    Ok(Kernel::Transpose { shape, perm })
}

/// Runs TRANSPOSE.
fn eval(kernel: &Kernel, ins: &[In<'_>], outs: &mut [Out<'_>], _: &mut [i8], _: Kernels) {
    let Some((x, _, out)) = args(ins, outs) else {
        return;
    };
    let Kernel::Transpose { shape, perm } = kernel else {
        return;
    };
    match out {
        Out::I8(o) => k::transpose::transpose(shape, perm, i8s(x), o),
        Out::F32(o) => k::transpose::transpose(shape, perm, f32s(x), o),
    }
}
