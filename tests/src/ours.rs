//! Our runtime on a batch: `workbench::infer` with the kernels under test.

use anyhow::{bail, Context, Result};
use workbench::infer::{infer_batch, InferOptions};
use workbench::npy::NpyData;
use workbench_tflite::runtime::Kernels;
use workbench_tflite::{DType, Graph};

use crate::Array;

/// Runs every sample of `batch` (shape `[N, ...input shape without batch]`) through `graph`.
pub fn run_ours(graph: &Graph, batch: &Array, kernels: Kernels) -> Result<Array> {
    let (Some(&input), Some(&output)) = (graph.inputs.first(), graph.outputs.first()) else {
        bail!("graph has no input or no output");
    };
    let (in_t, out_t) = (&graph.tensors[input], &graph.tensors[output]);
    let n = batch.shape.first().copied().unwrap_or(0);
    if n == 0 {
        bail!("empty input batch {:?}", batch.shape);
    }
    // The batch must already have the input's type: no quantization on the way in.
    let dtype_ok = matches!(
        (&batch.values, in_t.dtype),
        (NpyData::I8(_), DType::I8) | (NpyData::F32(_), DType::F32)
    );
    if !dtype_ok {
        bail!(
            "{} input batch for graph input {:?} of type {:?}",
            batch.dtype_name(),
            in_t.name,
            in_t.dtype
        );
    }
    let out = infer_batch(
        graph,
        &batch.clone().into(),
        &InferOptions {
            dequantize: false,
            kernels,
        },
    )
    .with_context(|| format!("our interpreter ({kernels:?})"))?;
    let got = out.data.len();
    if got != n * out_t.num_elements() {
        bail!(
            "our interpreter ({kernels:?}) returned {got} output values for {n} samples, the output tensor {:?} {:?} has {} each",
            out_t.name,
            out_t.shape,
            out_t.num_elements()
        );
    }
    Ok(out.into())
}
