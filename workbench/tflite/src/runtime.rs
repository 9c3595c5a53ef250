//! The interpreter: runs a [`Graph`] on `kernels-int8`.
//!
//! Every node is validated and prepared once in [`Interpreter::new`] by the
//! shared [`prepare`](crate::prepare::prepare) (the board runs the same one),
//! exactly as TFLite's `Prepare` functions compute them;
//! [`Interpreter::invoke`] only runs integer kernels.

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::graph::{DType, Graph, Tensor};
pub use crate::prepare::{Flavor, Kernels};
use crate::prepare::{In, Out, Prepared, Resolved};
use crate::validate::validate;

/// A tensor's storage.
#[derive(Debug, Clone, Default)]
enum Buf {
    #[default]
    Empty,
    I8(Vec<i8>),
    F32(Vec<f32>),
}

impl Buf {
    fn input(&self) -> In<'_> {
        match self {
            Buf::I8(v) => In::I8(v),
            Buf::F32(v) => In::F32(v),
            _ => In::None,
        }
    }
}

/// How an [`Interpreter`] runs: which kernels, and how much memory a model may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Reference or optimized kernels.
    pub kernels: Kernels,
    /// Most bytes the activation tensors may take together (default 1 GiB).
    pub max_activation_bytes: usize,
    /// Whose arithmetic to follow where interpreters differ (default LiteRT's).
    pub flavor: Flavor,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            kernels: Kernels::Optimized,
            max_activation_bytes: 1 << 30,
            flavor: Flavor::LiteRt,
        }
    }
}

/// Runs an int8 [`Graph`] on `kernels-int8`.
#[derive(Debug, Clone)]
pub struct Interpreter {
    graph: Graph,
    kernels: Kernels,
    bufs: Vec<Buf>,
    steps: Vec<Prepared>,
    scratch: Vec<i8>,
}

impl Interpreter {
    /// Validates and prepares every node once, with the optimized kernels.
    pub fn new(graph: Graph) -> Result<Self> {
        Self::with_kernels(graph, Kernels::Optimized)
    }

    /// Validates and prepares every node once, with the chosen kernels.
    pub fn with_kernels(graph: Graph, kernels: Kernels) -> Result<Self> {
        Self::with_options(
            graph,
            Options {
                kernels,
                ..Options::default()
            },
        )
    }

    /// Validates and prepares every node once, with the chosen kernels and memory limit.
    pub fn with_options(graph: Graph, options: Options) -> Result<Self> {
        let Options {
            kernels,
            max_activation_bytes,
            flavor,
        } = options;
        validate(&graph)?;
        let mut steps = Vec::with_capacity(graph.nodes.len());
        let mut scratch_len = 0;
        // Outputs of nodes folded at prepare: never run, never stored.
        let mut folded = vec![false; graph.tensors.len()];
        let mut resolved = Resolved::new(&graph.tensors[..], &graph.inputs, flavor);
        for (index, node) in graph.nodes.iter().enumerate() {
            let step = resolved.prepare(index, node)?;
            if step.is_folded() {
                folded[step.output()] = true;
                continue;
            }
            scratch_len = scratch_len.max(step.scratch_len());
            steps.push(step);
        }
        let resized = resolved.finish(&graph.outputs)?;
        let mut graph = graph;
        for (t, shape) in resized {
            graph.tensors[t].shape = shape;
        }
        let bytes = |t: &Tensor| t.num_elements().saturating_mul(t.dtype.size());
        let activations = || {
            graph
                .tensors
                .iter()
                .enumerate()
                .filter(|&(i, t)| !folded[i] && t.data.is_none())
        };
        let activation_bytes =
            activations().fold(0usize, |sum, (_, t)| sum.saturating_add(bytes(t)));
        if activation_bytes > max_activation_bytes {
            let (i, largest) = activations()
                .max_by_key(|&(_, t)| bytes(t))
                .expect("a positive sum has a term");
            return Err(Error::msg(format!(
                "the activation tensors need {activation_bytes} bytes, more than the limit of {max_activation_bytes} (Options::max_activation_bytes); the largest is tensor {i} ({}), shape {:?}",
                largest.name, largest.shape
            )));
        }
        let mut bufs = Vec::with_capacity(graph.tensors.len());
        for (i, t) in graph.tensors.iter().enumerate() {
            bufs.push(if folded[i] {
                Buf::Empty
            } else {
                storage(i, t)?
            });
        }
        for &t in &graph.inputs {
            if graph.tensors[t].data.is_some() {
                return Err(Error::msg(format!(
                    "graph input tensor {t} ({}) is a constant",
                    graph.tensors[t].name
                )));
            }
        }
        Ok(Interpreter {
            graph,
            kernels,
            bufs,
            steps,
            scratch: vec![0; scratch_len],
        })
    }

    /// The graph being run.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The kernels in use.
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    fn input_tensor(&self, i: usize, dtype: DType, len: usize) -> Result<usize> {
        let &t = self.graph.inputs.get(i).ok_or_else(|| {
            Error::msg(format!(
                "input {i} does not exist (graph has {} inputs)",
                self.graph.inputs.len()
            ))
        })?;
        let tensor = &self.graph.tensors[t];
        if tensor.dtype != dtype {
            return Err(Error::msg(format!(
                "input {i} (tensor {t}, {}): expected {}, got {}",
                tensor.name,
                dtype_name(tensor.dtype),
                dtype_name(dtype)
            )));
        }
        if tensor.num_elements() != len {
            return Err(Error::msg(format!(
                "input {i} (tensor {t}, {}): expected {} values for shape {:?}, got {len}",
                tensor.name,
                tensor.num_elements(),
                tensor.shape
            )));
        }
        Ok(t)
    }

    /// Sets graph input `i` from int8 values; errors if its type or length differs.
    pub fn set_input_i8(&mut self, i: usize, data: &[i8]) -> Result<()> {
        let t = self.input_tensor(i, DType::I8, data.len())?;
        self.bufs[t] = Buf::I8(data.to_vec());
        Ok(())
    }

    /// Sets graph input `i` from f32 values; errors if its type or length differs.
    pub fn set_input_f32(&mut self, i: usize, data: &[f32]) -> Result<()> {
        let t = self.input_tensor(i, DType::F32, data.len())?;
        self.bufs[t] = Buf::F32(data.to_vec());
        Ok(())
    }

    /// Runs every node in order.
    pub fn invoke(&mut self) -> Result<()> {
        for step in &self.steps {
            // Take the outputs out so inputs can be borrowed from the same storage.
            let mut outs: Vec<Buf> = step
                .outputs
                .iter()
                .map(|&t| core::mem::take(&mut self.bufs[t]))
                .collect();
            let ins: Vec<In<'_>> = step.inputs.iter().map(|&t| self.bufs[t].input()).collect();
            let mut views: Vec<Out<'_>> = outs
                .iter_mut()
                .filter_map(|b| match b {
                    Buf::I8(v) => Some(Out::I8(v)),
                    Buf::F32(v) => Some(Out::F32(v)),
                    _ => None,
                })
                .collect();
            if views.len() == step.outputs.len() {
                step.eval(&ins, &mut views, &mut self.scratch, self.kernels);
            }
            drop(views);
            for (&t, b) in step.outputs.iter().zip(outs) {
                self.bufs[t] = b;
            }
        }
        Ok(())
    }

    fn output_tensor(&self, i: usize) -> Result<usize> {
        self.graph.outputs.get(i).copied().ok_or_else(|| {
            Error::msg(format!(
                "output {i} does not exist (graph has {} outputs)",
                self.graph.outputs.len()
            ))
        })
    }

    /// Graph output `i` as int8; errors if it is not int8.
    pub fn output_i8(&self, i: usize) -> Result<&[i8]> {
        let t = self.output_tensor(i)?;
        self.tensor_i8(t).ok_or_else(|| {
            Error::msg(format!(
                "output {i} (tensor {t}) is {}, not int8",
                dtype_name(self.graph.tensors[t].dtype)
            ))
        })
    }

    /// Graph output `i` as f32; errors if it is not f32.
    pub fn output_f32(&self, i: usize) -> Result<&[f32]> {
        let t = self.output_tensor(i)?;
        self.tensor_f32(t).ok_or_else(|| {
            Error::msg(format!(
                "output {i} (tensor {t}) is {}, not float32",
                dtype_name(self.graph.tensors[t].dtype)
            ))
        })
    }

    /// Any int8 tensor: an activation (after [`invoke`](Self::invoke)) or a constant.
    pub fn tensor_i8(&self, tensor: usize) -> Option<&[i8]> {
        match self.bufs.get(tensor)? {
            Buf::I8(v) => Some(v),
            _ => None,
        }
    }

    /// Any f32 tensor: an activation (after [`invoke`](Self::invoke)) or a constant.
    pub fn tensor_f32(&self, tensor: usize) -> Option<&[f32]> {
        match self.bufs.get(tensor)? {
            Buf::F32(v) => Some(v),
            _ => None,
        }
    }
}

fn dtype_name(d: DType) -> &'static str {
    d.name()
}

/// The largest activation tensor, in elements (256 MiB of int8).
const MAX_ACTIVATION: usize = 1 << 28;

/// Storage for a tensor: decoded constants, zeroed activations.
fn storage(i: usize, t: &Tensor) -> Result<Buf> {
    let n = t.num_elements();
    if t.data.is_none() && n > MAX_ACTIVATION {
        return Err(Error::msg(format!(
            "tensor {i} ({}): shape {:?} has {n} elements, more than the {MAX_ACTIVATION} an activation may have",
            t.name, t.shape
        )));
    }
    Ok(match (&t.data, t.dtype) {
        (Some(d), DType::I8) => Buf::I8(d.iter().map(|&b| b as i8).collect()),
        (Some(d), DType::F32) => Buf::F32(
            d.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        // Biases are decoded into the prepared nodes; kernels read no other int32 data.
        (Some(_), _) => Buf::Empty,
        (None, DType::I8) => Buf::I8(vec![0; n]),
        (None, DType::F32) => Buf::F32(vec![0.0; n]),
        (None, other) => {
            return Err(Error::msg(format!(
                "tensor {i} ({}): {} activations are not supported",
                t.name,
                other.name()
            )))
        }
    })
}
