//! Batch inference of an int8 graph on NPY arrays, as `workbench infer` does it.

use crate::npy::{NpyArray, NpyData};
use crate::quant::params::{dequantize_value, quantize_value};
use crate::tflite::runtime::{Interpreter, Kernels};
use crate::tflite::{DType, Graph};
use crate::{Error, Result};

/// How [`infer_batch`] runs and what it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InferOptions {
    /// Return int8 outputs dequantized to float32 (default false: as the model gives them).
    pub dequantize: bool,
    /// The kernels (default the optimized ones; bit-exact with the reference).
    pub kernels: Kernels,
}

/// Runs `graph` on every sample of `input` (leading dimension N).
///
/// An int8 input is used as-is; a float32 input is quantized with the input
/// tensor's scale and zero point (a float model input takes float32 as-is).
/// Outputs are stacked along a new leading dimension.
pub fn infer_batch(graph: &Graph, input: &NpyArray, options: &InferOptions) -> Result<NpyArray> {
    let InferOptions {
        dequantize,
        kernels,
    } = *options;
    let in_t = graph
        .inputs
        .first()
        .map(|&i| &graph.tensors[i])
        .ok_or_else(|| Error::Shape("infer: the model has no input".into()))?;
    let out_t = graph
        .outputs
        .first()
        .map(|&i| graph.tensors[i].clone())
        .ok_or_else(|| Error::Shape("infer: the model has no output".into()))?;
    let per = in_t.num_elements();
    let total = input.shape.iter().product::<usize>();
    if input.shape.is_empty() || per == 0 || total % per != 0 || total / per != input.shape[0] {
        return Err(Error::Shape(format!(
            "infer: input array of shape {:?} is not a batch of the model's input shape {:?} (leading dimension N, then {} elements per sample)",
            input.shape, in_t.shape, per
        )));
    }
    let n = input.shape[0];
    let (scale, zp) = match &in_t.quant {
        Some(q) => (q.scale[0], q.zero_point[0]),
        None => (1.0, 0),
    };
    let mut interp = Interpreter::with_kernels(graph.clone(), kernels)?;
    let mut out_i8 = Vec::new();
    let mut out_f32 = Vec::new();
    for s in 0..n {
        match (&input.data, in_t.dtype) {
            (NpyData::I8(v), DType::I8) => interp.set_input_i8(0, &v[s * per..(s + 1) * per])?,
            (NpyData::F32(v), DType::I8) => {
                let q: Vec<i8> = v[s * per..(s + 1) * per]
                    .iter()
                    .map(|&x| quantize_value(x, scale, zp))
                    .collect();
                interp.set_input_i8(0, &q)?
            }
            (NpyData::F32(v), DType::F32) => interp.set_input_f32(0, &v[s * per..(s + 1) * per])?,
            (d, t) => {
                return Err(Error::Shape(format!(
                    "infer: input array has dtype {}, the model's input is {t:?}",
                    d.dtype_name()
                )))
            }
        }
        interp.invoke()?;
        match out_t.dtype {
            DType::F32 => out_f32.extend_from_slice(interp.output_f32(0)?),
            _ => out_i8.extend_from_slice(interp.output_i8(0)?),
        }
    }
    let mut shape = vec![n];
    shape.extend(out_t.shape.iter().skip(1));
    let data = if out_t.dtype == DType::F32 {
        NpyData::F32(out_f32)
    } else if dequantize {
        let (scale, zp) = match &out_t.quant {
            Some(q) => (q.scale[0], q.zero_point[0]),
            None => (1.0, 0),
        };
        NpyData::F32(
            out_i8
                .iter()
                .map(|&q| dequantize_value(q, scale, zp))
                .collect(),
        )
    } else {
        NpyData::I8(out_i8)
    };
    Ok(NpyArray { shape, data })
}
