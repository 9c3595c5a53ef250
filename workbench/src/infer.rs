//! Batch inference of an int8 graph on NPY arrays, as `workbench infer` does it.

use crate::npy::{NpyArray, NpyData};
use crate::quant::params::{dequantize_value, quantize_value};
use crate::tflite::runtime::{Interpreter, Kernels};
use crate::tflite::{DType, Graph};
use crate::{Error, Result};

/// One model input or output as TFLite's `get_input_details()` / `get_output_details()` list it.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorDetails {
    /// Tensor name.
    pub name: String,
    /// Tensor index in the graph.
    pub index: usize,
    /// Shape (batch first).
    pub shape: Vec<usize>,
    /// Element type, e.g. `int8`.
    pub dtype: &'static str,
    /// `(scale, zero_point)`; `(0.0, 0)` when not quantized, as TFLite reports it.
    pub quantization: (f32, i64),
}

impl std::fmt::Display for TensorDetails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{{name: {:?}, index: {}, shape: {:?}, dtype: {}, quantization: ({}, {})}}",
            self.name, self.index, self.shape, self.dtype, self.quantization.0, self.quantization.1
        )
    }
}

/// The details of `graph`'s inputs and outputs, in order.
pub fn io_details(graph: &Graph) -> (Vec<TensorDetails>, Vec<TensorDetails>) {
    let details = |ids: &[usize]| {
        ids.iter()
            .map(|&i| {
                let t = &graph.tensors[i];
                TensorDetails {
                    name: t.name.clone(),
                    index: i,
                    shape: t.shape.clone(),
                    dtype: t.dtype.name(),
                    quantization: t
                        .quant
                        .as_ref()
                        .map_or((0.0, 0), |q| (q.scale[0], q.zero_point[0])),
                }
            })
            .collect()
    };
    (details(&graph.inputs), details(&graph.outputs))
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tflite::{Quant, Tensor};

    #[test]
    fn io_details_list_quantization_as_tflite_does() {
        let mut g = Graph::default();
        let t = |name: &str, dtype, quant| Tensor {
            name: name.into(),
            shape: vec![1, 28, 28, 1],
            dtype,
            quant,
            data: None,
        };
        let i = g.add_tensor(t("in", DType::I8, Some(Quant::per_tensor(0.5, -128))));
        let o = g.add_tensor(t("out", DType::F32, None));
        g.inputs = vec![i];
        g.outputs = vec![o];
        let (ins, outs) = io_details(&g);
        assert_eq!(ins[0].quantization, (0.5, -128));
        assert_eq!(ins[0].dtype, "int8");
        assert_eq!(outs[0].quantization, (0.0, 0));
        assert_eq!(outs[0].index, 1);
        assert_eq!(
            ins[0].to_string(),
            "{name: \"in\", index: 0, shape: [1, 28, 28, 1], dtype: int8, quantization: (0.5, -128)}"
        );
    }
}
