//! A `.tflite` model on the board: parse the flatbuffer and prepare every op
//! with `workbench-tflite`'s shared reader and [`prepare`] (the host
//! interpreter's own, so outputs match bit for bit), place activations in the
//! tensor arena, and step the prepared ops on `kernels-int8`.
//!
//! Constant tensors stay in the model bytes (int8 filters are read in place);
//! int32 biases and the per-channel multipliers are decoded once into the
//! plan (heap). Activations live in the caller's arena, placed by a greedy
//! first-fit over their lifetimes (largest first, as TFLite Micro's greedy
//! planner does); the conv im2col scratch sits after them.

use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

use workbench_tflite::prepare::{Flavor, In, Kernels, Out, Prepared, Resolved, TensorRef, Tensors};
use workbench_tflite::{import, ops, read, DType, Quant};

use crate::berr;
use crate::error::{BoardError, ErrorCode, Result};

/// TFLite `TensorType` codes the board handles.
pub mod dtype {
    /// float32.
    pub const F32: u8 = 0;
    /// int32.
    pub const I32: u8 = 2;
    /// int64 (constants only, e.g. reshape shapes).
    pub const I64: u8 = 4;
    /// int8.
    pub const I8: u8 = 9;

    /// Bytes per element.
    pub const fn size(d: u8) -> usize {
        match d {
            F32 | I32 => 4,
            I64 => 8,
            _ => 1,
        }
    }
}

/// The supported operators: `workbench-tflite`'s op registry.
pub mod op {
    use alloc::string::String;

    /// Builtin codes of every supported operator.
    pub fn supported() -> impl Iterator<Item = u16> {
        workbench_tflite::ops::supported_codes().map(|c| c as u16)
    }

    /// TFLite's name of a builtin code.
    pub fn name(code: u16) -> String {
        workbench_tflite::ops::builtin_name(i32::from(code))
    }
}

/// Most elements a tensor may have: its bytes (up to 8 per element) fit 32 bits.
const MAX_ELEMENTS: usize = 1 << 28;

/// Arena offsets are multiples of this (float32 tensors need 4).
const ALIGN: usize = 4;

const fn align_up(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

/// The TFLite `TensorType` code of a type.
fn dtype_code(d: DType) -> u8 {
    match d {
        DType::F32 => dtype::F32,
        DType::I32 => dtype::I32,
        DType::I64 => dtype::I64,
        _ => dtype::I8,
    }
}

/// What the board knows of one tensor.
#[derive(Debug, Clone)]
struct Meta {
    shape: Vec<usize>,
    dtype: DType,
    quant: Option<Quant>,
    /// Constant data: a byte range of the model.
    data: Option<Range<usize>>,
}

impl Meta {
    fn elements(&self) -> usize {
        self.shape.iter().product()
    }
}

/// The tensors as preparation sees them: constants read in place from the model.
struct Model<'a> {
    metas: &'a [Meta],
    bytes: &'a [u8],
}

impl Tensors for Model<'_> {
    fn count(&self) -> usize {
        self.metas.len()
    }

    fn get(&self, t: usize) -> TensorRef<'_> {
        let m = &self.metas[t];
        TensorRef {
            shape: &m.shape,
            dtype: m.dtype,
            quant: m.quant.as_ref(),
            data: m.data.clone().map(|r| &self.bytes[r]),
        }
    }
}

/// Where a tensor's bytes are at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Not stored (e.g. an unused constant's absent data).
    Nowhere,
    /// A byte offset into the model.
    Model(usize),
    /// A byte offset into the arena.
    Arena(usize),
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    at: At,
    bytes: usize,
}

#[derive(Debug, Clone)]
struct Step {
    code: u16,
    prepared: Prepared,
}

/// A graph input or output: tensor index, type, bytes and quantization.
#[derive(Debug, Clone, Copy)]
pub struct Io {
    /// Tensor index.
    pub tensor: usize,
    /// TFLite type code ([`dtype`]).
    pub dtype: u8,
    /// Size in bytes.
    pub bytes: usize,
    /// Scale (1.0 for float tensors).
    pub scale: f32,
    /// Zero point (0 for float tensors).
    pub zero_point: i32,
}

/// A prepared model: steps, tensor placement and arena use.
#[derive(Debug, Clone)]
pub struct Plan {
    slots: Vec<Slot>,
    steps: Vec<Step>,
    /// Graph inputs.
    pub inputs: Vec<Io>,
    /// Graph outputs.
    pub outputs: Vec<Io>,
    /// Arena bytes used by activations.
    pub activations: usize,
    /// Arena bytes used by the conv scratch (after the activations).
    pub scratch: usize,
    /// Element type of each tensor.
    dtypes: Vec<DType>,
}

/// A bad-model error carrying a `workbench-tflite` message.
fn bad(code: ErrorCode, a: usize, b: i32, e: &workbench_tflite::Error) -> BoardError {
    BoardError::new(code, a as u32, b as u32, format_args!("{e}"))
}

/// Parses and prepares `model` by `flavor`'s rules; `arena_capacity` bounds the activations plus scratch.
pub fn prepare(model: &[u8], arena_capacity: usize, flavor: Flavor) -> Result<Plan> {
    let bad_model = |e: workbench_tflite::Error| bad(ErrorCode::BadModel, 0, 0, &e);
    let m = read::model(model).map_err(bad_model)?;
    let sg = import::subgraph(&m).map_err(bad_model)?;
    let base = model.as_ptr() as usize;
    let buffers = m.buffers();
    let mut metas = Vec::new();
    for (i, t) in sg.tensors().into_iter().flatten().enumerate() {
        let t = import::tensor(i, &t, buffers).map_err(bad_model)?;
        let elements: usize = t.shape.iter().product();
        if elements >= MAX_ELEMENTS {
            return Err(berr!(
                BadModel,
                i,
                0,
                "tensor {i} ({}): shape has more than 2^28 elements",
                t.name
            ));
        }
        metas.push(Meta {
            shape: t.shape,
            dtype: t.dtype,
            quant: t.quant,
            data: t.data.map(|d| {
                let start = d.as_ptr() as usize - base;
                start..start + d.len()
            }),
        });
    }
    let n = metas.len();
    let graph_inputs = import::tensor_list(sg.inputs(), n, "subgraph inputs").map_err(bad_model)?;
    let graph_outputs =
        import::tensor_list(sg.outputs(), n, "subgraph outputs").map_err(bad_model)?;
    let tensors = Model {
        metas: &metas,
        bytes: model,
    };
    let codes = m.operator_codes();
    let mut resolved = Resolved::new(&tensors, &graph_inputs, flavor);
    let mut steps = Vec::new();
    for (index, o) in sg.operators().into_iter().flatten().enumerate() {
        let code = import::op_code(index, &o, codes).map_err(bad_model)?;
        let node = import::node(index, &o, codes, &resolved).map_err(|e| {
            let kind = if ops::is_supported(code) {
                ErrorCode::BadModel
            } else {
                ErrorCode::UnsupportedOp
            };
            bad(kind, index, code, &e)
        })?;
        let prepared = resolved
            .prepare(index, &node)
            .map_err(|e| bad(ErrorCode::BadModel, index, code, &e))?;
        // Shape computations folded at prepare neither run nor take arena space.
        if prepared.is_folded() {
            continue;
        }
        // Constants are read in place from the model: weights (input 1 of
        // the convolutions and FULLY_CONNECTED) and either operand of the
        // elementwise ops; float32 ones only where the model keeps them
        // 4-byte aligned. Other constants stay unread (prepare decoded them).
        let weights = matches!(
            prepared.kernel,
            workbench_tflite::Kernel::Conv { .. }
                | workbench_tflite::Kernel::Depthwise { .. }
                | workbench_tflite::Kernel::FullyConnected { .. }
                | workbench_tflite::Kernel::Float { .. }
                | workbench_tflite::Kernel::Hybrid { .. }
        );
        let elementwise = matches!(
            prepared.kernel,
            workbench_tflite::Kernel::Binary { .. }
                | workbench_tflite::Kernel::MaxMin { .. }
                | workbench_tflite::Kernel::Concat { .. }
                | workbench_tflite::Kernel::Pack { .. }
                | workbench_tflite::Kernel::Prelu { .. }
        );
        for (k, &t) in prepared.inputs.iter().enumerate() {
            let Some(r) = &metas[t].data else { continue };
            if !(elementwise || (k == 1 && weights)) {
                return Err(berr!(
                    BadModel,
                    index,
                    code,
                    "op {index} ({}): constant input tensor {t} is not supported here",
                    node.op.name()
                ));
            }
            if metas[t].dtype == DType::F32 && r.start % 4 != 0 {
                return Err(berr!(
                    BadModel,
                    index,
                    code,
                    "op {index} ({}): constant float32 input tensor {t} is not 4-byte aligned in the model",
                    node.op.name()
                ));
            }
        }
        steps.push(Step {
            code: code as u16,
            prepared,
        });
    }
    for &t in &graph_inputs {
        if metas[t].data.is_some() {
            return Err(berr!(
                BadModel,
                t,
                0,
                "graph input tensor {t} is a constant"
            ));
        }
    }
    let resized = resolved.finish(&graph_outputs).map_err(bad_model)?;
    for (t, shape) in resized {
        metas[t].shape = shape;
    }
    plan(metas, steps, graph_inputs, graph_outputs, arena_capacity)
}

/// Places activations in the arena and builds the plan.
fn plan(
    metas: Vec<Meta>,
    steps: Vec<Step>,
    gin: Vec<usize>,
    gout: Vec<usize>,
    capacity: usize,
) -> Result<Plan> {
    let n = metas.len();
    let last_step = steps.len();
    // Lifetimes [first, last] in step indices; graph inputs and outputs live throughout.
    let mut first = vec![usize::MAX; n];
    let mut last = vec![0usize; n];
    for (i, s) in steps.iter().enumerate() {
        for &t in s.prepared.inputs.iter().chain(&s.prepared.outputs) {
            first[t] = first[t].min(i);
            last[t] = last[t].max(i);
        }
    }
    for &t in gin.iter().chain(&gout) {
        first[t] = 0;
        last[t] = last_step;
    }
    let mut slots: Vec<Slot> = metas
        .iter()
        .map(|m| Slot {
            at: m.data.as_ref().map_or(At::Nowhere, |r| At::Model(r.start)),
            bytes: m.elements() * m.dtype.size(),
        })
        .collect();
    let mut order: Vec<usize> = (0..n)
        .filter(|&t| metas[t].data.is_none() && first[t] != usize::MAX)
        .collect();
    for &t in &order {
        if !matches!(metas[t].dtype, DType::I8 | DType::F32) {
            return Err(berr!(
                BadModel,
                t,
                dtype_code(metas[t].dtype),
                "tensor {t}: activations must be int8 or float32, got {}",
                metas[t].dtype.name()
            ));
        }
    }
    order.sort_by(|&a, &b| slots[b].bytes.cmp(&slots[a].bytes).then(a.cmp(&b)));
    // Offsets in u64: usize is 32 bits on the board and a bad model may ask for more.
    let mut placed: Vec<(usize, Range<u64>)> = Vec::new();
    let mut activations = 0u64;
    for t in order {
        let size = align_up(slots[t].bytes) as u64;
        let mut busy: Vec<Range<u64>> = placed
            .iter()
            .filter(|(u, _)| first[*u] <= last[t] && first[t] <= last[*u])
            .map(|(_, r)| r.clone())
            .collect();
        busy.sort_by_key(|r| r.start);
        let mut at = 0;
        for r in &busy {
            if at + size <= r.start {
                break;
            }
            at = at.max(r.end);
        }
        slots[t].at = At::Arena(at as usize);
        activations = activations.max(at + size);
        placed.push((t, at..at + size));
    }
    // Outputs are sent from the arena: a constant or folded output has no place there.
    for (k, &t) in gout.iter().enumerate() {
        if !matches!(slots[t].at, At::Arena(_)) {
            return Err(berr!(
                BadModel,
                t,
                k,
                "graph output {k} is tensor {t}, which no op computes at run time (a constant or a value folded at prepare); the board sends outputs from its arena"
            ));
        }
    }
    let scratch = steps
        .iter()
        .map(|s| s.prepared.scratch_len())
        .max()
        .unwrap_or(0);
    let scratch = align_up(scratch);
    let need = activations + scratch as u64;
    if need > capacity as u64 {
        return Err(berr!(ArenaTooSmall, need.min(u64::from(u32::MAX)), capacity,
            "tensor arena too small: the model needs {need} bytes ({activations} activations + {scratch} scratch), the board has {capacity}"));
    }
    let activations = activations as usize;
    let io = |t: usize| {
        let m = &metas[t];
        let q = m.quant.as_ref();
        let (scale, zero_point) = match (
            q.and_then(|q| q.scale.first()),
            q.and_then(|q| q.zero_point.first()),
        ) {
            (Some(&s), Some(&z)) => (s, z as i32),
            _ => (1.0, 0),
        };
        Io {
            tensor: t,
            dtype: dtype_code(m.dtype),
            bytes: slots[t].bytes,
            scale,
            zero_point,
        }
    };
    Ok(Plan {
        inputs: gin.iter().map(|&t| io(t)).collect(),
        outputs: gout.iter().map(|&t| io(t)).collect(),
        slots,
        steps,
        activations,
        scratch,
        dtypes: metas.iter().map(|m| m.dtype).collect(),
    })
}

fn as_i8(b: &[u8]) -> &[i8] {
    // SAFETY: i8 and u8 have the same size, alignment and validity.
    unsafe { core::slice::from_raw_parts(b.as_ptr().cast(), b.len()) }
}

fn as_i8_mut(b: &mut [u8]) -> &mut [i8] {
    // SAFETY: as above.
    unsafe { core::slice::from_raw_parts_mut(b.as_mut_ptr().cast(), b.len()) }
}

fn as_f32(b: &[u8]) -> &[f32] {
    // SAFETY: every bit pattern is a valid f32; arena offsets are 4-aligned.
    let (pre, mid, _) = unsafe { b.align_to::<f32>() };
    assert!(pre.is_empty(), "misaligned float tensor");
    mid
}

fn as_f32_mut(b: &mut [u8]) -> &mut [f32] {
    // SAFETY: as above.
    let (pre, mid, _) = unsafe { b.align_to_mut::<f32>() };
    assert!(pre.is_empty(), "misaligned float tensor");
    mid
}

impl Plan {
    /// Number of operators.
    pub fn ops(&self) -> usize {
        self.steps.len()
    }

    /// Builtin code of op `i`.
    pub fn op_code(&self, i: usize) -> u16 {
        self.steps[i].code
    }

    /// Bytes of prepared metadata held on the heap (approximate: vectors' payloads).
    pub fn plan_bytes(&self) -> usize {
        use core::mem::size_of;
        let n = self.slots.len() * size_of::<Slot>() + self.steps.len() * size_of::<Step>();
        n + self
            .steps
            .iter()
            .map(|s| s.prepared.heap_bytes())
            .sum::<usize>()
    }

    /// The arena byte range of tensor `t` (inputs and outputs are always in the arena).
    pub fn arena_range(&self, t: usize) -> Range<usize> {
        match self.slots[t].at {
            At::Arena(o) => o..o + self.slots[t].bytes,
            _ => 0..0,
        }
    }

    /// Runs op `i`: reads constants from `model`, activations from `arena`.
    pub fn run_step(&self, i: usize, model: &[u8], arena: &mut [u8]) {
        let s = &self.steps[i].prepared;
        let (act, scratch) = arena.split_at_mut(self.activations);
        // Cut the outputs out of the activations, in arena order; what lies
        // between them (the inputs, live at the same step so apart from the
        // outputs) stays readable.
        let mut order: Vec<usize> = (0..s.outputs.len()).collect();
        order.sort_by_key(|&k| self.arena_range(s.outputs[k]).start);
        let mut outs: Vec<Option<&mut [u8]>> = s.outputs.iter().map(|_| None).collect();
        let mut gaps: Vec<(usize, &[u8])> = Vec::with_capacity(order.len() + 1);
        let mut rest: &mut [u8] = act;
        let mut at = 0;
        for k in order {
            let r = self.arena_range(s.outputs[k]);
            if r.start < at || r.end > at + rest.len() {
                return; // Overlapping outputs: the plan never makes them.
            }
            let (gap, tail) = core::mem::take(&mut rest).split_at_mut(r.start - at);
            let (out, tail) = tail.split_at_mut(r.len());
            gaps.push((at, gap));
            outs[k] = Some(out);
            rest = tail;
            at = r.end;
        }
        gaps.push((at, rest));
        let view = |t: usize| -> Option<In<'_>> {
            let bytes = match self.slots[t].at {
                At::Model(o) => &model[o..o + self.slots[t].bytes],
                At::Arena(o) => {
                    let end = o + self.slots[t].bytes;
                    let &(g, gap) = gaps
                        .iter()
                        .find(|(g, gap)| *g <= o && end <= g + gap.len())?;
                    &gap[o - g..end - g]
                }
                At::Nowhere => &[],
            };
            Some(if self.dtypes[t] == DType::F32 {
                In::F32(as_f32(bytes))
            } else {
                In::I8(as_i8(bytes))
            })
        };
        let Some(ins) = s
            .inputs
            .iter()
            .map(|&t| view(t))
            .collect::<Option<Vec<_>>>()
        else {
            return; // An input overlapping an output: the plan never makes one.
        };
        let mut views: Vec<Out<'_>> = Vec::with_capacity(outs.len());
        for (&t, out) in s.outputs.iter().zip(outs) {
            let Some(out) = out else { return };
            views.push(if self.dtypes[t] == DType::F32 {
                Out::F32(as_f32_mut(out))
            } else {
                Out::I8(as_i8_mut(out))
            });
        }
        s.eval(&ins, &mut views, as_i8_mut(scratch), Kernels::Optimized);
    }
}
