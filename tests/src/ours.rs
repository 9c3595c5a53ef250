//! Our runtime on a batch: `workbench::infer` with the kernels under test.

use anyhow::{bail, Context, Result};
use workbench::infer::{infer_batch, InferOptions};
use workbench::npy::NpyData;
use workbench_tflite::runtime::Kernels;
use workbench_tflite::{DType, Flavor, Graph, Interpreter, Options};

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

/// Runs every sample of an int8 `batch` through `graph` on an int8 output, with `flavor`'s arithmetic.
pub fn run_ours_flavor(
    graph: &Graph,
    batch: &Array,
    kernels: Kernels,
    flavor: Flavor,
) -> Result<Array> {
    let NpyData::I8(x) = &batch.values else {
        bail!("{} input batch, expected int8", batch.dtype_name());
    };
    let Some(&output) = graph.outputs.first() else {
        bail!("graph has no output");
    };
    let mut interp = Interpreter::with_options(
        graph.clone(),
        Options {
            kernels,
            flavor,
            ..Options::default()
        },
    )
    .with_context(|| format!("our interpreter ({kernels:?}, {flavor:?})"))?;
    // As prepared: FULLY_CONNECTED may resize its output.
    let out_shape = interp.graph().tensors[output].shape.clone();
    let n = batch.shape.first().copied().unwrap_or(0);
    if n == 0 || !x.len().is_multiple_of(n) {
        bail!(
            "input batch of shape {:?} does not split into samples",
            batch.shape
        );
    }
    let mut out = Vec::new();
    for sample in x.chunks(x.len() / n) {
        interp.set_input_i8(0, sample)?;
        interp.invoke()?;
        out.extend_from_slice(interp.output_i8(0)?);
    }
    // The output's leading batch dimension of 1 becomes the batch size.
    let mut shape = vec![n];
    shape.extend(out_shape.iter().skip(1));
    Ok(Array {
        shape,
        values: NpyData::I8(out),
    })
}
