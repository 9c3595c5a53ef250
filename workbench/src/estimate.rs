//! Static cost estimates of an int8 graph: flash (ROM), RAM and multiply-accumulates.
//!
//! - ROM: bytes of all constant tensors (weights, biases, shape tensors).
//! - RAM worst case: every non-constant tensor in its own buffer.
//! - RAM best case for a linear graph: the largest node's non-constant inputs
//!   plus outputs, i.e. two live buffers reused in ping-pong (scratch buffers
//!   of the kernels are not counted).
//! - MACs: CONV_2D `N*out_h*out_w*out_c*kh*kw*in_c`, DEPTHWISE_CONV_2D
//!   `N*out_h*out_w*out_c*kh*kw`, FULLY_CONNECTED `rows*out*in`; every other op
//!   (pools, softmax, add, reshape, quantize) counts 0.
//! - Params: elements of a node's constant inputs (weights and biases); a
//!   RESHAPE's constant shape tensor is not a parameter.

use std::fmt;

use workbench_tflite::{DType, Graph, Node, Op, Tensor};

/// Cost of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerEstimate {
    /// Position of the node in execution order.
    pub index: usize,
    /// TFLite op name, e.g. `CONV_2D`.
    pub op: &'static str,
    /// Shape of the node's first output.
    pub output_shape: Vec<usize>,
    /// Multiply-accumulates.
    pub macs: u64,
    /// Number of constant parameters (weights and biases).
    pub params: usize,
    /// Bytes of the node's constant inputs (its share of ROM).
    pub rom_bytes: usize,
    /// Bytes of the node's distinct non-constant inputs and outputs (live while it runs).
    pub ram_bytes: usize,
}

/// Cost of a whole graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estimate {
    /// Bytes of all constant tensors.
    pub rom_bytes: usize,
    /// ROM bytes per element type, in order of first appearance.
    pub rom_by_type: Vec<(DType, usize)>,
    /// Sum of the bytes of all non-constant tensors.
    pub ram_bytes_worst: usize,
    /// Max over nodes of the bytes of its non-constant inputs and outputs.
    pub ram_bytes_best: usize,
    /// One entry per node, in execution order.
    pub layers: Vec<LayerEstimate>,
    /// Total multiply-accumulates.
    pub macs: u64,
}

impl Estimate {
    /// Total parameters over all layers.
    pub fn params(&self) -> usize {
        self.layers.iter().map(|l| l.params).sum()
    }
}

fn tensor_bytes(t: &Tensor) -> usize {
    t.num_elements() * t.dtype.size()
}

pub(crate) fn dtype_name(d: DType) -> &'static str {
    match d {
        DType::F32 => "float32",
        DType::I8 => "int8",
        DType::I32 => "int32",
        _ => "other",
    }
}

/// Estimates ROM, RAM and MACs of `graph`.
pub fn estimate(graph: &Graph) -> Estimate {
    let mut rom_bytes = 0;
    let mut rom_by_type: Vec<(DType, usize)> = Vec::new();
    let mut ram_bytes_worst = 0;
    for t in &graph.tensors {
        match &t.data {
            Some(d) => {
                rom_bytes += d.len();
                match rom_by_type.iter_mut().find(|(dt, _)| *dt == t.dtype) {
                    Some((_, b)) => *b += d.len(),
                    None => rom_by_type.push((t.dtype, d.len())),
                }
            }
            None => ram_bytes_worst += tensor_bytes(t),
        }
    }
    let tensor = |i: usize| graph.tensors.get(i);
    let mut ram_bytes_best = 0;
    let mut layers = Vec::with_capacity(graph.nodes.len());
    for (index, node) in graph.nodes.iter().enumerate() {
        // Distinct non-constant tensors touched by the node.
        let mut live: Vec<usize> = node
            .inputs
            .iter()
            .flatten()
            .chain(&node.outputs)
            .copied()
            .filter(|&i| tensor(i).is_some_and(|t| t.data.is_none()))
            .collect();
        live.sort_unstable();
        live.dedup();
        let bytes: usize = live
            .iter()
            .filter_map(|&i| tensor(i))
            .map(tensor_bytes)
            .sum();
        ram_bytes_best = ram_bytes_best.max(bytes);
        let rom_bytes = node
            .inputs
            .iter()
            .flatten()
            .filter_map(|&i| tensor(i))
            .filter_map(|t| t.data.as_ref())
            .map(Vec::len)
            .sum();
        let params = if matches!(node.op, Op::Reshape) {
            0
        } else {
            node.inputs
                .iter()
                .flatten()
                .filter_map(|&i| tensor(i))
                .filter(|t| t.data.is_some())
                .map(Tensor::num_elements)
                .sum()
        };
        let output_shape = node
            .outputs
            .first()
            .and_then(|&i| tensor(i))
            .map(|t| t.shape.clone())
            .unwrap_or_default();
        layers.push(LayerEstimate {
            index,
            op: node.op.name(),
            output_shape,
            macs: node_macs(graph, node),
            params,
            rom_bytes,
            ram_bytes: bytes,
        });
    }
    let macs = layers.iter().map(|l| l.macs).sum();
    Estimate {
        rom_bytes,
        rom_by_type,
        ram_bytes_worst,
        ram_bytes_best,
        layers,
        macs,
    }
}

/// MACs of one node; 0 for ops without multiplies or with malformed shapes.
fn node_macs(graph: &Graph, node: &Node) -> u64 {
    let shape = |k: usize| -> Option<&[usize]> {
        let i = (*node.inputs.get(k)?)?;
        Some(&graph.tensors.get(i)?.shape)
    };
    let out = node
        .outputs
        .first()
        .and_then(|&i| graph.tensors.get(i))
        .map(|t| t.shape.as_slice());
    let prod = |s: &[usize]| s.iter().map(|&d| d as u64).product::<u64>();
    let macs = match node.op {
        Op::Conv2d { .. } => (|| {
            let (o, w) = (out?, shape(1)?);
            // out NHWC, filter OHWI: each output element needs kh*kw*in_c MACs.
            (o.len() == 4 && w.len() == 4).then(|| prod(o) * prod(&w[1..]))
        })(),
        Op::DepthwiseConv2d { .. } => (|| {
            let (o, w) = (out?, shape(1)?);
            // out NHWC, filter 1HW(I*M): each output element needs kh*kw MACs.
            (o.len() == 4 && w.len() == 4).then(|| prod(o) * prod(&w[1..3]))
        })(),
        Op::FullyConnected { .. } => (|| {
            let (o, w) = (out?, shape(1)?);
            // weights [out, in]: each output element needs `in` MACs.
            (w.len() == 2).then(|| prod(o) * w[1] as u64)
        })(),
        _ => None,
    };
    macs.unwrap_or(0)
}

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

impl fmt::Display for Estimate {
    /// A per-layer table, then totals for MACs, params, ROM and RAM.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shapes: Vec<String> = self
            .layers
            .iter()
            .map(|l| {
                l.output_shape
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("x")
            })
            .collect();
        let opw = self
            .layers
            .iter()
            .map(|l| l.op.len())
            .max()
            .unwrap_or(0)
            .max("op".len());
        let shw = shapes
            .iter()
            .map(String::len)
            .max()
            .unwrap_or(0)
            .max("output".len());
        let mw = thousands(self.macs).len().max("MACs".len());
        let pw = thousands(self.params() as u64).len().max("params".len());
        writeln!(
            f,
            "{:>3}  {:<opw$}  {:<shw$}  {:>mw$}  {:>pw$}",
            "#", "op", "output", "MACs", "params"
        )?;
        for (l, s) in self.layers.iter().zip(&shapes) {
            writeln!(
                f,
                "{:>3}  {:<opw$}  {:<shw$}  {:>mw$}  {:>pw$}",
                l.index,
                l.op,
                s,
                thousands(l.macs),
                thousands(l.params as u64)
            )?;
        }
        writeln!(
            f,
            "{:>3}  {:<opw$}  {:<shw$}  {:>mw$}  {:>pw$}",
            "",
            "total",
            "",
            thousands(self.macs),
            thousands(self.params() as u64)
        )?;
        let by_type: Vec<String> = self
            .rom_by_type
            .iter()
            .map(|(d, b)| format!("{} {}", dtype_name(*d), thousands(*b as u64)))
            .collect();
        writeln!(
            f,
            "ROM {} bytes ({})",
            thousands(self.rom_bytes as u64),
            by_type.join(", ")
        )?;
        write!(
            f,
            "RAM {} bytes best (two live buffers), {} bytes worst (every activation)",
            thousands(self.ram_bytes_best as u64),
            thousands(self.ram_bytes_worst as u64)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(203_552), "203,552");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
