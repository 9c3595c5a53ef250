//! `check`: run one batch on the host interpreter and on a board, compare
//! outputs byte for byte, and report counts, per-layer profile, push
//! throughput and memory use against the board's limits.

use std::fmt;

use workbench_tflite::params::METADATA_NAME;
use workbench_tflite::{
    DType, Flavor, Graph, InputNormalization, Interpreter, ModelParams, Op, Options,
};

use crate::device::{Device, PushReport};
use crate::error::{Error, Result};
use crate::link::LinkStats;
use crate::npy::{Array, Elem};

/// A model run on the host interpreter (`workbench-tflite`, `kernels-int8`).
pub struct HostModel {
    interp: Interpreter,
    /// Graph input 0: element type and shape.
    pub input: (Elem, Vec<usize>),
    /// Graph output 0: element type and shape.
    pub output: (Elem, Vec<usize>),
}

fn elem(d: DType) -> Result<Elem> {
    match d {
        DType::I8 => Ok(Elem::I8),
        DType::F32 => Ok(Elem::F32),
        other => Err(Error::Msg(format!(
            "graph input/output type {other:?} is not int8 or float32"
        ))),
    }
}

impl HostModel {
    /// Parses and prepares `.tflite` bytes with LiteRT's arithmetic.
    pub fn new(bytes: &[u8]) -> Result<Self> {
        Self::with_flavor(bytes, Flavor::LiteRt)
    }

    /// Parses and prepares `.tflite` bytes with `flavor`'s arithmetic (a board's, from its hello).
    pub fn with_flavor(bytes: &[u8], flavor: Flavor) -> Result<Self> {
        let graph = workbench_tflite::read(bytes)?;
        let (Some(&i), Some(&o)) = (graph.inputs.first(), graph.outputs.first()) else {
            return Err(Error::Msg("model has no inputs or outputs".into()));
        };
        let input = (
            elem(graph.tensors[i].dtype)?,
            graph.tensors[i].shape.clone(),
        );
        let output = (
            elem(graph.tensors[o].dtype)?,
            graph.tensors[o].shape.clone(),
        );
        Ok(HostModel {
            interp: Interpreter::with_options(
                graph,
                Options {
                    flavor,
                    ..Options::default()
                },
            )?,
            input,
            output,
        })
    }

    /// The graph.
    pub fn graph(&self) -> &Graph {
        self.interp.graph()
    }

    /// Bytes of one input sample.
    pub fn input_bytes(&self) -> usize {
        self.input.1.iter().product::<usize>() * self.input.0.size()
    }

    /// Runs one sample (input 0's little-endian bytes); returns output 0's bytes.
    pub fn run(&mut self, x: &[u8]) -> Result<Vec<u8>> {
        match self.input.0 {
            Elem::I8 => {
                let v: Vec<i8> = x.iter().map(|&b| b as i8).collect();
                self.interp.set_input_i8(0, &v)?;
            }
            Elem::F32 => {
                let v: Vec<f32> = x
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                self.interp.set_input_f32(0, &v)?;
            }
        }
        self.interp.invoke()?;
        Ok(match self.output.0 {
            Elem::I8 => self.interp.output_i8(0)?.iter().map(|&v| v as u8).collect(),
            Elem::F32 => self
                .interp
                .output_f32(0)?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        })
    }

    /// Splits a batch array into samples; checks its type and size. A float32
    /// batch is normalized and quantized as [`HostModel::prepare`] says.
    pub fn samples(&self, a: &Array) -> Result<Vec<Vec<u8>>> {
        Ok(self.prepare(a)?.0)
    }

    /// Splits a batch array into input samples, and says what it did to them.
    ///
    /// An int8 batch goes in as it is. A float32 batch gets the model's input
    /// normalization (its `samplewise_norm.*` parameters) per sample, then,
    /// if the model's input is int8, TFLite's quantization with the input's
    /// scale and zero point: `q = clamp(round(x / scale) + zero_point, -128, 127)`.
    pub fn prepare(&self, a: &Array) -> Result<(Vec<Vec<u8>>, Option<InputPrep>)> {
        let elements: usize = self.input.1.iter().product();
        let per = elements * a.elem.size();
        if per == 0 || a.bytes.is_empty() || !a.bytes.len().is_multiple_of(per) {
            return Err(Error::Msg(format!(
                "input batch of shape {:?} does not split into samples of shape {:?}",
                a.shape, self.input.1
            )));
        }
        match (a.elem, self.input.0) {
            (Elem::I8, Elem::I8) => Ok((a.bytes.chunks(per).map(<[u8]>::to_vec).collect(), None)),
            (Elem::F32, model) => {
                let normalization = InputNormalization::from_params(&self.graph().params)?;
                let quantized = match model {
                    Elem::F32 => None,
                    Elem::I8 => Some(self.input_quant()?),
                };
                let samples = a
                    .bytes
                    .chunks(per)
                    .map(|bytes| {
                        let mut x: Vec<f32> = bytes
                            .chunks_exact(4)
                            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                            .collect();
                        normalization.apply(&mut x);
                        match quantized {
                            None => x.iter().flat_map(|v| v.to_le_bytes()).collect(),
                            Some((scale, zero_point)) => x
                                .iter()
                                .map(|&v| {
                                    let q = (v / scale).round() as i64 + zero_point;
                                    q.clamp(-128, 127) as i8 as u8
                                })
                                .collect(),
                        }
                    })
                    .collect();
                Ok((
                    samples,
                    Some(InputPrep {
                        normalization,
                        quantized,
                    }),
                ))
            }
            (Elem::I8, Elem::F32) => Err(Error::Msg(format!(
                "input batch is {}, the model's input is {}",
                a.elem.name(),
                self.input.0.name()
            ))),
        }
    }

    /// Scale and zero point of an int8 graph input 0.
    fn input_quant(&self) -> Result<(f32, i64)> {
        let g = self.graph();
        let t = &g.tensors[g.inputs[0]];
        match &t.quant {
            Some(q) if q.scale.len() == 1 && q.zero_point.len() == 1 => {
                Ok((q.scale[0], q.zero_point[0]))
            }
            _ => Err(Error::Msg(format!(
                "float32 batch: the int8 input {:?} has no per-tensor quantization to quantize it with",
                t.name
            ))),
        }
    }

    /// Stacks per-sample outputs into one array `[N, ...]`.
    pub fn stack(&self, outputs: &[Vec<u8>]) -> Array {
        let rest = match self.output.1.split_first() {
            Some((1, r)) => r.to_vec(),
            _ => self.output.1.clone(),
        };
        let mut shape = vec![outputs.len()];
        shape.extend(rest);
        Array {
            shape,
            elem: self.output.0,
            bytes: outputs.concat(),
        }
    }

    /// Multiply-accumulates of each op (0 for ops without MACs).
    pub fn macs(&self) -> Vec<u64> {
        let g = self.graph();
        g.nodes
            .iter()
            .map(|n| {
                let t = |k: usize| n.inputs.get(k).copied().flatten().map(|t| &g.tensors[t]);
                let out = g.tensors[n.outputs[0]].num_elements() as u64;
                match (&n.op, t(1)) {
                    (Op::Conv2d { .. }, Some(f)) => {
                        out * (f.shape[1] * f.shape[2] * f.shape[3]) as u64
                    }
                    (Op::DepthwiseConv2d { .. }, Some(f)) => out * (f.shape[1] * f.shape[2]) as u64,
                    (Op::FullyConnected { .. }, Some(w)) => out * w.shape[1] as u64,
                    _ => 0,
                }
            })
            .collect()
    }
}

/// What [`HostModel::prepare`] did to a float32 batch before running it.
#[derive(Debug, Clone, PartialEq)]
pub struct InputPrep {
    /// The model's input normalization, applied to each sample.
    pub normalization: InputNormalization,
    /// `(scale, zero_point)` the normalized values were quantized with, for an int8 model input.
    pub quantized: Option<(f32, i64)>,
}

/// `float32, normalized (rescale x * 0.003921569), then quantized to int8 with scale 0.003921569 and zero point -128`.
impl fmt::Display for InputPrep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.normalization {
            InputNormalization::None => f.write_str("float32, not normalized")?,
            norm => write!(f, "float32, normalized ({norm})")?,
        }
        match self.quantized {
            Some((scale, zero_point)) => write!(
                f,
                ", then quantized to int8 with scale {scale} and zero point {zero_point}"
            ),
            None => f.write_str(", into the model's float32 input"),
        }
    }
}

/// One layer's line in a check report.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// TFLite op name.
    pub op: String,
    /// Count on the board (last sample).
    pub count: u64,
    /// Multiply-accumulates.
    pub macs: u64,
}

/// The result of `check`; `Debug` is one line, `Display` a summary, [`CheckReport::to_html`] a table.
#[derive(Clone, PartialEq)]
pub struct CheckReport {
    /// Board name and CPU.
    pub board: String,
    /// Whose arithmetic the board (and so the host reference) follows.
    pub flavor: Flavor,
    /// The board's core clock in Hz.
    pub clock_hz: u32,
    /// Unit of counts (`instructions`, `cycles`, `ns`).
    pub unit: String,
    /// Samples run.
    pub samples: usize,
    /// Samples whose output differs from the host's in any byte.
    pub mismatched_samples: usize,
    /// Output values that differ.
    pub mismatched_values: usize,
    /// Count of each inference.
    pub counts: Vec<u64>,
    /// Per-layer counts of the last inference.
    pub layers: Vec<Layer>,
    /// The model push.
    pub push: PushReport,
    /// Board model storage in bytes.
    pub model_capacity: u32,
    /// Board arena in bytes.
    pub arena_capacity: u32,
    /// What the link recovered from.
    pub link: LinkStats,
    /// The board's outputs, stacked.
    pub outputs: Array,
    /// The model's parameters (MLTK's `SL_PARAMSv1` metadata).
    pub params: ModelParams,
    /// What was done to a float32 input batch; `None` for an int8 batch, which goes in as it is.
    pub input: Option<InputPrep>,
}

impl CheckReport {
    /// Mean count per inference.
    pub fn mean_count(&self) -> f64 {
        self.counts.iter().sum::<u64>() as f64 / self.counts.len().max(1) as f64
    }

    /// Output values compared (all samples).
    pub fn output_values(&self) -> usize {
        self.outputs.bytes.len() / self.outputs.elem.size()
    }

    /// Milliseconds per inference at the board's clock, one count per cycle (`None` unless counts are instructions or cycles).
    pub fn millis_at_clock(&self) -> Option<f64> {
        (matches!(self.unit.as_str(), "instructions" | "cycles") && self.clock_hz > 0)
            .then(|| self.mean_count() / f64::from(self.clock_hz) * 1000.0)
    }

    /// Counts per MAC over all layers with MACs of the given op name (`CONV_2D`).
    pub fn per_mac(&self, op: &str) -> Option<f64> {
        let (c, m) = self
            .layers
            .iter()
            .filter(|l| l.op == op && l.macs > 0)
            .fold((0u64, 0u64), |(c, m), l| (c + l.count, m + l.macs));
        (m > 0).then(|| c as f64 / m as f64)
    }

    /// An HTML summary and per-layer table.
    pub fn to_html(&self) -> String {
        let mut s = String::new();
        s.push_str("<table><tr><th colspan=2>device-bridge check</th></tr>");
        let row = |s: &mut String, k: &str, v: String| {
            s.push_str(&format!(
                "<tr><td>{}</td><td>{}</td></tr>",
                html_escape(k),
                html_escape(&v)
            ))
        };
        let pct = |used: usize, cap: u32| 100.0 * used as f64 / f64::from(cap.max(1));
        row(&mut s, "board", self.board.clone());
        row(&mut s, "arithmetic", self.flavor.name().to_string());
        row(&mut s, "samples", self.samples.to_string());
        row(
            &mut s,
            "mismatching outputs (board vs host int8)",
            format!(
                "{} of {} values ({} of {} samples)",
                self.mismatched_values,
                self.output_values(),
                self.mismatched_samples,
                self.samples
            ),
        );
        for (key, value) in self.params.iter() {
            row(
                &mut s,
                &format!("model parameter {key}"),
                format!("{value} ({})", value.type_name()),
            );
        }
        if let Some(input) = &self.input {
            row(&mut s, "input", input.to_string());
        }
        row(
            &mut s,
            &format!("{} per inference", self.unit),
            format!("{:.0}", self.mean_count()),
        );
        if let Some(ms) = self.millis_at_clock() {
            row(
                &mut s,
                &format!("time per inference at {} MHz", self.clock_hz as f64 / 1e6),
                if self.unit == "instructions" {
                    format!("{ms:.1} ms (at one instruction per cycle)")
                } else {
                    format!("{ms:.1} ms")
                },
            );
        }
        let push = if self.push.sent == 0 && self.push.resumed_at == self.push.bytes {
            format!(
                "{} bytes preloaded (not sent over the link), prepared in {:.3} s",
                self.push.bytes, self.push.seconds
            )
        } else {
            format!(
                "{} bytes in {:.3} s ({:.1} KB/s, {} restarts)",
                self.push.bytes,
                self.push.seconds,
                self.push.throughput() / 1000.0,
                self.push.restarts
            )
        };
        row(&mut s, "push", push);
        row(
            &mut s,
            "flash (model)",
            format!(
                "{} of {} bytes ({:.1}%)",
                self.push.model.model_bytes,
                self.model_capacity,
                pct(self.push.model.model_bytes as usize, self.model_capacity)
            ),
        );
        row(
            &mut s,
            "RAM (arena)",
            format!(
                "{} of {} bytes ({:.1}%, +{} bytes plan)",
                self.push.model.arena_used,
                self.arena_capacity,
                pct(self.push.model.arena_used as usize, self.arena_capacity),
                self.push.model.plan_bytes
            ),
        );
        s.push_str("</table><table><tr><th>#</th><th>op</th><th>");
        s.push_str(&html_escape(&self.unit));
        s.push_str("</th><th>share</th><th>MACs</th><th>per MAC</th></tr>");
        let total = self.layers.iter().map(|l| l.count).sum::<u64>().max(1) as f64;
        for (i, l) in self.layers.iter().enumerate() {
            let (macs, per) = if l.macs > 0 {
                (
                    l.macs.to_string(),
                    format!("{:.2}", l.count as f64 / l.macs as f64),
                )
            } else {
                (String::new(), String::new())
            };
            s.push_str(&format!(
                "<tr><td>{i}</td><td>{}</td><td>{}</td><td>{:.1}%</td><td>{macs}</td><td>{per}</td></tr>",
                html_escape(&l.op),
                l.count,
                100.0 * l.count as f64 / total
            ));
        }
        s.push_str("</table>");
        s
    }

    /// Shows the report in evcxr as HTML.
    pub fn evcxr_display(&self) {
        use std::io::Write;
        let block = format!(
            "EVCXR_BEGIN_CONTENT text/html\n{}\nEVCXR_END_CONTENT\n",
            self.to_html()
        );
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(block.as_bytes());
        let _ = out.flush();
    }
}

impl fmt::Debug for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CheckReport({}, {} samples, {} mismatching, {:.0} {} per inference, {} layers)",
            self.board,
            self.samples,
            self.mismatched_samples,
            self.mean_count(),
            self.unit,
            self.layers.len()
        )
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "board: {}", self.board)?;
        writeln!(f, "arithmetic: {} (board and host)", self.flavor.name())?;
        writeln!(
            f,
            "samples: {}, mismatching outputs: {} samples, {} values",
            self.samples, self.mismatched_samples, self.mismatched_values
        )?;
        if !self.params.is_empty() {
            writeln!(f, "model parameters ({METADATA_NAME}):")?;
            for line in self.params.to_string().lines() {
                writeln!(f, "  {line}")?;
            }
        }
        if let Some(input) = &self.input {
            writeln!(f, "input: {input}")?;
        }
        writeln!(f, "{} per inference: {:.0}", self.unit, self.mean_count())?;
        writeln!(f, "push: {} bytes in {:.3} s = {:.1} KB/s ({} restarts, link: {} resent, {} dropped frames)",
            self.push.bytes, self.push.seconds, self.push.throughput() / 1000.0, self.push.restarts, self.link.resent, self.link.dropped)?;
        writeln!(
            f,
            "flash (model): {} of {} bytes",
            self.push.model.model_bytes, self.model_capacity
        )?;
        writeln!(
            f,
            "RAM (arena): {} of {} bytes, plus {} bytes of prepared parameters",
            self.push.model.arena_used, self.arena_capacity, self.push.model.plan_bytes
        )?;
        writeln!(f, "per layer (last inference):")?;
        for (i, l) in self.layers.iter().enumerate() {
            write!(f, "  {i:>3} {:<18} {:>12} {}", l.op, l.count, self.unit)?;
            if l.macs > 0 {
                write!(
                    f,
                    "  {:>10} MACs  {:.2} per MAC",
                    l.macs,
                    l.count as f64 / l.macs as f64
                )?;
            }
            writeln!(f)?;
        }
        for op in ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"] {
            if let Some(p) = self.per_mac(op) {
                writeln!(f, "{op}: {p:.2} {} per MAC", self.unit)?;
            }
        }
        Ok(())
    }
}

/// Pushes `model` to `device`, runs `batch` on it and on the host (with the
/// board's [`Flavor`] of arithmetic), and compares.
pub fn check(device: &mut Device, model: &[u8], batch: &Array) -> Result<CheckReport> {
    let mut host = HostModel::with_flavor(model, device.info().flavor)?;
    let (samples, input) = host.prepare(batch)?;
    let push = device.push_model(model)?;
    let run = device.run_batch(&samples, true)?;
    let (mut ms, mut mv) = (0, 0);
    let size = host.output.0.size();
    for (x, got) in samples.iter().zip(&run.outputs) {
        let want = host.run(x)?;
        if &want != got {
            ms += 1;
            mv += if want.len() != got.len() {
                want.len().max(got.len()) / size
            } else {
                want.chunks(size)
                    .zip(got.chunks(size))
                    .filter(|(a, b)| a != b)
                    .count()
            };
        }
    }
    let macs = host.macs();
    let names: Vec<&str> = host.graph().nodes.iter().map(|n| n.op.name()).collect();
    let layers = run
        .profile
        .iter()
        .enumerate()
        .map(|(i, &(_, count))| Layer {
            op: names.get(i).copied().unwrap_or("?").to_string(),
            count,
            macs: macs.get(i).copied().unwrap_or(0),
        })
        .collect();
    let info = device.info().clone();
    Ok(CheckReport {
        flavor: info.flavor,
        board: format!(
            "{} ({}, {} MHz)",
            info.name,
            info.cpu,
            info.clock_hz / 1_000_000
        ),
        clock_hz: info.clock_hz,
        unit: info.counter.unit().to_string(),
        samples: samples.len(),
        mismatched_samples: ms,
        mismatched_values: mv,
        counts: run.counts,
        layers,
        push,
        model_capacity: info.model_capacity,
        arena_capacity: info.arena_capacity,
        link: device.link_stats(),
        outputs: host.stack(&run.outputs),
        params: host.graph().params.clone(),
        input,
    })
}
