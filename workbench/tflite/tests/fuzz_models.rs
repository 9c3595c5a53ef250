//! Fuzzing the model readers: every fixture model in `tests/refs/` (top level,
//! `keras3/` and `mlperf/`), mutated, through our reader, the interpreter's
//! preparation and one inference, and through the board's preparation
//! (`device_bridge_board::model::prepare`) and one inference on its arena.
//!
//! Mutations are seeded and deterministic. Besides truncations and flipped
//! bytes (mostly outside the weights), structured mutations rewrite one field
//! in place at the byte offset found through TFLite's generated schema: a
//! tensor index in an operator's input or output list (replaced, or two
//! entries swapped), a shape entry, a tensor's buffer index, an operator's
//! opcode index, an operator code's builtin code, a tensor's type, a builtin
//! option field, a quantization scale, zero point or axis, a subgraph
//! input or output. Every case must end in success or an error that names
//! something concrete (an op, a tensor, a field, a byte range); a panic, a
//! vague error, a case slower than [`CASE_LIMIT`], or host and board both
//! running the same bytes to different outputs fails the test, unless it is
//! one of the [`KNOWN`] failures, which are listed on every run. Cases one
//! side runs and the other rejects are counted and listed, not failed.
//! Release builds skip debug assertions and overflow checks, so a debug run
//! (`cargo test -p workbench-tflite --test fuzz_models`) finds more panics.
//!
//! `FUZZ_CASES=N` sets the cases per model (default [`CASES_PER_MODEL`], or
//! [`CASES_PER_MODEL_DEBUG`] in debug builds),
//! `FUZZ_SEED=S` the seed, `FUZZ_VERBOSE=1` prints every case.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use workbench_tflite::schema as fb;
use workbench_tflite::{DType, Interpreter, Options};

/// Default seed of the case generator.
const SEED: u64 = 0x5eed_0011_2026;

/// Cases per fixture model in release builds (about 110 models; see [`RUNNABLE_FACTOR`]):
/// about 58,000 cases, 6 s on one loaded core.
const CASES_PER_MODEL: usize = 300;

/// Cases per fixture model in debug builds (about 20 times slower).
const CASES_PER_MODEL_DEBUG: usize = 20;

/// Models the host runs unmutated get this many times more cases.
const RUNNABLE_FACTOR: usize = 4;

/// A case (host and board together) slower than this fails as slow (release builds;
/// debug builds allow five times as long).
const CASE_LIMIT: Duration = Duration::from_secs(3);

/// No progress for this long fails the test as a hang, naming the case.
const HANG_LIMIT: Duration = Duration::from_secs(30);

/// The board's tensor arena in these runs: the QEMU board's 1 MiB.
const BOARD_ARENA: usize = 1 << 20;

/// The host's activation memory in these runs. Every fixture needs less than the
/// board's arena; a mutated shape can ask for gigabytes, which the host would then
/// allocate and compute for seconds (correctly, but it is not what is tested here).
const HOST_ACTIVATIONS: usize = 64 << 20;

/// A failure the code under test is known to have (in files this test may not fix).
struct Known {
    /// `host` or `board`.
    side: &'static str,
    /// Source file of the panic, or `error` for a vague error message.
    file: &'static str,
    /// A substring of the panic or error message.
    message: &'static str,
}

/// Known failures, each reported on every run with its cases' count.
const KNOWN: &[Known] = &[
    Known {
        // ADD's prepare (runtime.rs and the board's model.rs, through kernels-int8's
        // `add::prepare`) accepts scales whose output multiplier
        // `2 max(s1, s2) / (2^20 s_out)` is not below 1; TFLite rejects them. A debug
        // assertion in debug builds, a wrong multiplier in release.
        side: "host",
        file: "kernels-int8/src/requant.rs",
        message: "expected 0 <",
    },
    Known {
        side: "board",
        file: "kernels-int8/src/requant.rs",
        message: "expected 0 <",
    },
];

/// How many cases of each known failure are printed.
const KNOWN_SHOWN: usize = 20;

/// splitmix64: small, seedable, and stable across platforms.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len())]
    }
}

/// What a rewritable field holds, which decides the values tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An i32 tensor index in an operator's inputs or outputs.
    OpTensor,
    /// An i32 tensor index in the subgraph's inputs or outputs.
    GraphTensor,
    /// An i32 shape entry.
    ShapeDim,
    /// A tensor's u32 buffer index.
    BufferIndex,
    /// An operator's u32 opcode index.
    OpcodeIndex,
    /// An operator code's i32 builtin code or i8 deprecated builtin code.
    BuiltinCode,
    /// A tensor's i8 type.
    TensorType,
    /// A builtin option field (rewritten in its first byte: i8 enums and little-endian ints).
    OptionField,
    /// An f32 quantization scale.
    Scale,
    /// An i64 quantization zero point.
    ZeroPoint,
    /// An i32 quantized dimension.
    QuantAxis,
}

/// Mutation kinds, tried in turn so every model gets each.
const KINDS: [Option<Kind>; 14] = [
    None, // truncation
    None, // flipped bytes
    Some(Kind::OpTensor),
    None, // swapped operator tensor indices
    Some(Kind::ShapeDim),
    Some(Kind::BufferIndex),
    Some(Kind::OpcodeIndex),
    Some(Kind::BuiltinCode),
    Some(Kind::TensorType),
    Some(Kind::OptionField),
    Some(Kind::Scale),
    Some(Kind::ZeroPoint),
    Some(Kind::QuantAxis),
    Some(Kind::GraphTensor),
];

/// One field of the model at a byte offset.
#[derive(Debug, Clone)]
struct Field {
    kind: Kind,
    /// Byte offset of the field's value.
    at: usize,
    /// Width in bytes (1, 4 or 8).
    width: usize,
    /// e.g. `op 3 (CONV_2D) inputs[1]`.
    what: String,
    /// The current value (scales as their bits).
    value: i64,
}

/// The rewritable fields of one model and the byte ranges of constant data.
struct Sites {
    fields: Vec<Field>,
    data: Vec<(usize, usize)>,
    tensors: usize,
    buffers: usize,
    codes: usize,
}

fn pos(base: &[u8], slice: &[u8]) -> usize {
    slice.as_ptr() as usize - base.as_ptr() as usize
}

/// The absolute offset of a table's scalar field, if present in the bytes.
fn field_at(t: &flatbuffers::Table<'_>, vt: flatbuffers::VOffsetT) -> Option<usize> {
    let o = t.vtable().get(vt);
    (o != 0).then(|| t.loc() + o as usize)
}

fn builtin_name(code: i32) -> String {
    fb::BuiltinOperator(code)
        .variant_name()
        .map_or_else(|| format!("builtin {code}"), str::to_string)
}

/// Finds every field a structured mutation may rewrite.
fn sites(bytes: &[u8]) -> Sites {
    let m = fb::root_as_model(bytes).expect("fixture models verify");
    let mut s = Sites {
        fields: Vec::new(),
        data: Vec::new(),
        tensors: 0,
        buffers: m.buffers().map_or(0, |b| b.len()),
        codes: m.operator_codes().map_or(0, |c| c.len()),
    };
    let mut push = |kind, at, width, what: String, value| {
        s.fields.push(Field {
            kind,
            at,
            width,
            what,
            value,
        })
    };
    let mut code_names = Vec::new();
    for (c, code) in m.operator_codes().into_iter().flatten().enumerate() {
        let b = (code.deprecated_builtin_code() as i32).max(code.builtin_code().0);
        code_names.push(builtin_name(b));
        if let Some(at) = field_at(&code._tab, fb::OperatorCode::VT_BUILTIN_CODE) {
            push(
                Kind::BuiltinCode,
                at,
                4,
                format!("operator_codes[{c}].builtin_code"),
                code.builtin_code().0 as i64,
            );
        }
        if let Some(at) = field_at(&code._tab, fb::OperatorCode::VT_DEPRECATED_BUILTIN_CODE) {
            push(
                Kind::BuiltinCode,
                at,
                1,
                format!("operator_codes[{c}].deprecated_builtin_code"),
                code.deprecated_builtin_code() as i64,
            );
        }
    }
    let mut data = Vec::new();
    for b in m.buffers().into_iter().flatten() {
        if let Some(d) = b.data() {
            let at = pos(bytes, d.bytes());
            data.push((at, at + d.len()));
        }
    }
    let mut tensors = 0;
    for sg in m.subgraphs().into_iter().flatten() {
        let ts = sg.tensors();
        tensors += ts.map_or(0, |t| t.len());
        for (i, t) in ts.into_iter().flatten().enumerate() {
            let name = format!("tensor {i} ({})", t.name().unwrap_or(""));
            if let Some(shape) = t.shape() {
                let at = pos(bytes, shape.bytes());
                for (d, v) in shape.iter().enumerate() {
                    push(
                        Kind::ShapeDim,
                        at + 4 * d,
                        4,
                        format!("{name} shape[{d}]"),
                        v as i64,
                    );
                }
            }
            if let Some(at) = field_at(&t._tab, fb::Tensor::VT_BUFFER) {
                push(
                    Kind::BufferIndex,
                    at,
                    4,
                    format!("{name} buffer"),
                    t.buffer() as i64,
                );
            }
            if let Some(at) = field_at(&t._tab, fb::Tensor::VT_TYPE_) {
                push(
                    Kind::TensorType,
                    at,
                    1,
                    format!("{name} type"),
                    t.type_().0 as i64,
                );
            }
            if let Some(q) = t.quantization() {
                if let Some(sc) = q.scale() {
                    let at = pos(bytes, sc.bytes());
                    for (k, v) in sc.iter().enumerate() {
                        push(
                            Kind::Scale,
                            at + 4 * k,
                            4,
                            format!("{name} scale[{k}]"),
                            v.to_bits() as i64,
                        );
                    }
                }
                if let Some(zp) = q.zero_point() {
                    let at = pos(bytes, zp.bytes());
                    for (k, v) in zp.iter().enumerate() {
                        push(
                            Kind::ZeroPoint,
                            at + 8 * k,
                            8,
                            format!("{name} zero_point[{k}]"),
                            v,
                        );
                    }
                }
                if let Some(at) =
                    field_at(&q._tab, fb::QuantizationParameters::VT_QUANTIZED_DIMENSION)
                {
                    push(
                        Kind::QuantAxis,
                        at,
                        4,
                        format!("{name} quantized_dimension"),
                        q.quantized_dimension() as i64,
                    );
                }
            }
        }
        for (list, l) in [("inputs", sg.inputs()), ("outputs", sg.outputs())] {
            if let Some(l) = l {
                let at = pos(bytes, l.bytes());
                for (k, v) in l.iter().enumerate() {
                    push(
                        Kind::GraphTensor,
                        at + 4 * k,
                        4,
                        format!("subgraph {list}[{k}]"),
                        v as i64,
                    );
                }
            }
        }
        for (o, op) in sg.operators().into_iter().flatten().enumerate() {
            let oi = op.opcode_index() as usize;
            let name = format!(
                "op {o} ({})",
                code_names.get(oi).map_or("?", String::as_str)
            );
            if let Some(at) = field_at(&op._tab, fb::Operator::VT_OPCODE_INDEX) {
                push(
                    Kind::OpcodeIndex,
                    at,
                    4,
                    format!("{name} opcode_index"),
                    oi as i64,
                );
            }
            for (list, l) in [("inputs", op.inputs()), ("outputs", op.outputs())] {
                if let Some(l) = l {
                    let at = pos(bytes, l.bytes());
                    for (k, v) in l.iter().enumerate() {
                        push(
                            Kind::OpTensor,
                            at + 4 * k,
                            4,
                            format!("{name} {list}[{k}]"),
                            v as i64,
                        );
                    }
                }
            }
            if let Some(opts) = op.builtin_options() {
                let vt = opts.vtable();
                for f in 0..vt.num_fields() {
                    let off = vt.get_field(f);
                    if off != 0 {
                        push(
                            Kind::OptionField,
                            opts.loc() + off as usize,
                            1,
                            format!("{name} builtin option field {f}"),
                            bytes[opts.loc() + off as usize] as i64,
                        );
                    }
                }
            }
        }
    }
    s.data = data;
    s.tensors = tensors;
    s
}

/// One mutated model and what was done to it.
struct Mutant {
    what: String,
    bytes: Vec<u8>,
}

fn write_le(bytes: &mut [u8], at: usize, width: usize, v: i64) {
    bytes[at..at + width].copy_from_slice(&v.to_le_bytes()[..width]);
}

/// A byte offset, outside constant data 9 times in 10 (the weights rarely matter to a parser).
fn metadata_offset(rng: &mut Rng, s: &Sites, len: usize) -> usize {
    for _ in 0..16 {
        let at = rng.below(len);
        if rng.below(10) == 0 || !s.data.iter().any(|&(a, b)| (a..b).contains(&at)) {
            return at;
        }
    }
    rng.below(len)
}

/// New values for a field of `kind` currently holding `v`.
fn values(kind: Kind, v: i64, s: &Sites, rng: &mut Rng) -> Vec<i64> {
    let (n, b, c) = (s.tensors as i64, s.buffers as i64, s.codes as i64);
    let r = |rng: &mut Rng, n: i64| rng.below(n.max(1) as usize) as i64;
    match kind {
        Kind::OpTensor | Kind::GraphTensor => {
            vec![
                -1,
                -2,
                0,
                n - 1,
                n,
                n + 1,
                i32::MAX as i64,
                i32::MIN as i64,
                r(rng, n),
                r(rng, n),
            ]
        }
        Kind::ShapeDim => vec![
            0,
            1,
            -1,
            v - 1,
            v + 1,
            2 * v,
            3,
            1 << 16,
            1 << 24,
            i32::MAX as i64,
        ],
        Kind::BufferIndex => vec![0, 1, b - 1, b, b + 1, u32::MAX as i64, r(rng, b), r(rng, b)],
        Kind::OpcodeIndex => vec![0, c - 1, c, c + 1, u32::MAX as i64, r(rng, c)],
        Kind::BuiltinCode => vec![0, 3, 4, 9, 22, 25, 32, 127, 126, 114, 200, r(rng, 210)],
        Kind::TensorType => vec![0, 1, 2, 3, 4, 6, 7, 9, 10, 17, 100, -1],
        Kind::OptionField => vec![0, 1, 2, 3, 5, 6, 0x7f, 0x80, 0xff, r(rng, 256)],
        Kind::Scale => [
            0.0f32,
            -1.0,
            f32::NAN,
            f32::INFINITY,
            1e-30,
            1e30,
            1e-10,
            65536.0,
        ]
        .iter()
        .map(|f| f.to_bits() as i64)
        .collect(),
        Kind::ZeroPoint => vec![-129, 128, 255, -128, 127, 1 << 40, i64::MIN, v + 1],
        Kind::QuantAxis => vec![-1, 1, 2, 3, 4, 5, 100, i32::MIN as i64],
    }
}

/// Case `k` of a model: a mutation of the kind `KINDS[k % KINDS.len()]`.
fn mutate(orig: &[u8], s: &Sites, k: usize, rng: &mut Rng) -> Mutant {
    let mut bytes = orig.to_vec();
    let kind = KINDS[k % KINDS.len()];
    let of_kind =
        |kind: Kind| -> Vec<&Field> { s.fields.iter().filter(|f| f.kind == kind).collect() };
    match (k % KINDS.len(), kind) {
        (0, _) => {
            // Truncate: anywhere, or near the end (where the root tables often are).
            let len = if rng.below(2) == 0 {
                rng.below(orig.len())
            } else {
                orig.len() - 1 - rng.below(orig.len().min(64))
            };
            bytes.truncate(len);
            Mutant {
                what: format!("truncated to {len} of {} bytes", orig.len()),
                bytes,
            }
        }
        (3, _) => {
            // Swap two tensor indices of operators' lists (within one op or across two).
            let f = of_kind(Kind::OpTensor);
            if f.len() < 2 {
                return flip(orig, s, rng);
            }
            let a = f[rng.below(f.len())];
            let b = f[rng.below(f.len())];
            write_le(&mut bytes, a.at, 4, b.value);
            write_le(&mut bytes, b.at, 4, a.value);
            Mutant {
                what: format!(
                    "swapped {} (tensor {}) with {} (tensor {})",
                    a.what, a.value, b.what, b.value
                ),
                bytes,
            }
        }
        (_, Some(kind)) => {
            let f = of_kind(kind);
            if f.is_empty() {
                return flip(orig, s, rng);
            }
            let f = f[rng.below(f.len())];
            let vals: Vec<i64> = values(kind, f.value, s, rng)
                .into_iter()
                .filter(|&v| v != f.value)
                .collect();
            let v = rng.pick(&vals);
            write_le(&mut bytes, f.at, f.width, v);
            let show = |v: i64| match kind {
                Kind::Scale => format!("{:e}", f32::from_bits(v as u32)),
                _ => v.to_string(),
            };
            Mutant {
                what: format!(
                    "{}: {} -> {} (byte {})",
                    f.what,
                    show(f.value),
                    show(v),
                    f.at
                ),
                bytes,
            }
        }
        _ => flip(orig, s, rng),
    }
}

/// Flips 1 to 4 bytes, mostly outside constant data.
fn flip(orig: &[u8], s: &Sites, rng: &mut Rng) -> Mutant {
    let mut bytes = orig.to_vec();
    let mut what = String::from("flipped bytes");
    for _ in 0..1 + rng.below(4) {
        let at = metadata_offset(rng, s, bytes.len());
        let mask = 1 + rng.below(255) as u8;
        bytes[at] ^= mask;
        let _ = write!(what, " {at}^0x{mask:02x}");
    }
    Mutant { what, bytes }
}

/// A deterministic input pattern: a ramp over the int8 range.
fn pattern(i: usize) -> i8 {
    ((i * 37) % 256) as u8 as i8
}

/// The arithmetic host and board both run: TFLite Micro's, the board's own (LiteRT's,
/// the host's default, is what every other test runs).
const FLAVOR: workbench_tflite::Flavor = workbench_tflite::Flavor::Micro;

/// Read, prepare and one inference on the host interpreter; returns output 0's bytes.
fn host(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let graph = workbench_tflite::read(bytes).map_err(|e| e.to_string())?;
    let options = Options {
        max_activation_bytes: HOST_ACTIVATIONS,
        flavor: FLAVOR,
        ..Options::default()
    };
    let mut it = Interpreter::with_options(graph, options).map_err(|e| e.to_string())?;
    let inputs: Vec<(DType, usize)> = it
        .graph()
        .inputs
        .iter()
        .map(|&t| {
            (
                it.graph().tensors[t].dtype,
                it.graph().tensors[t].num_elements(),
            )
        })
        .collect();
    for (i, (dtype, n)) in inputs.into_iter().enumerate() {
        match dtype {
            DType::I8 => it.set_input_i8(i, &(0..n).map(pattern).collect::<Vec<_>>()),
            DType::F32 => it.set_input_f32(i, &(0..n).map(pattern_f32).collect::<Vec<_>>()),
            other => return Err(format!("input {i}: {other:?} inputs are not run here")),
        }
        .map_err(|e| e.to_string())?;
    }
    it.invoke().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for i in 0..it.graph().outputs.len() {
        let t = it.graph().outputs[i];
        match (it.tensor_i8(t), it.tensor_f32(t)) {
            (Some(v), _) if i == 0 => out = v.iter().map(|&x| x as u8).collect(),
            (_, Some(v)) if i == 0 => out = v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            (Some(_), _) | (_, Some(_)) => {}
            _ => {
                return Err(format!(
                    "output {i} (tensor {t}) is not int8 or float32 (not read by this test)"
                ))
            }
        }
    }
    Ok(out)
}

/// The float inputs' pattern: the int8 ramp over 64.
fn pattern_f32(i: usize) -> f32 {
    f32::from(pattern(i)) / 64.0
}

/// Prepare and one inference on the board's logic, over a 1 MiB arena; returns output 0's bytes.
fn board(bytes: &[u8], arena: &mut [u8]) -> Result<Vec<u8>, String> {
    use device_bridge_board::model::{self, dtype};
    let plan = model::prepare(bytes, BOARD_ARENA, FLAVOR).map_err(|e| e.to_string())?;
    for io in &plan.inputs {
        let r = plan.arena_range(io.tensor);
        if io.dtype == dtype::F32 {
            for (k, c) in arena[r].chunks_exact_mut(4).enumerate() {
                c.copy_from_slice(&pattern_f32(k).to_le_bytes());
            }
        } else {
            for (k, b) in arena[r].iter_mut().enumerate() {
                *b = pattern(k) as u8;
            }
        }
    }
    for i in 0..plan.ops() {
        plan.run_step(i, bytes, arena);
    }
    Ok(plan
        .outputs
        .first()
        .map(|io| arena[plan.arena_range(io.tensor)].to_vec())
        .unwrap_or_default())
}

/// The first op input (or graph output) that is neither a graph input, a constant nor
/// an earlier op's output: its value is whatever its storage held (zeros on the host, arena contents
/// on the board), so host and board may disagree.
fn unwritten_read(bytes: &[u8]) -> Option<String> {
    let g = workbench_tflite::read(bytes).ok()?;
    let mut written: Vec<bool> = g.tensors.iter().map(|t| t.data.is_some()).collect();
    for &t in &g.inputs {
        written[t] = true;
    }
    for (i, n) in g.nodes.iter().enumerate() {
        if let Some(t) = n.inputs.iter().flatten().find(|&&t| !written[t]) {
            return Some(format!(
                "op {i} ({}) reads tensor {t}, which no graph input, constant or earlier op provides",
                n.op.name()
            ));
        }
        for &t in &n.outputs {
            written[t] = true;
        }
    }
    let (k, &t) = g.outputs.iter().enumerate().find(|(_, &t)| !written[t])?;
    Some(format!(
        "graph output {k} reads tensor {t}, which no graph input, constant or earlier op provides"
    ))
}

/// The first graph output that is a constant: the host returns its data, the board,
/// whose plan assumes graph outputs live in the arena, returns no bytes.
fn constant_output(bytes: &[u8]) -> Option<String> {
    let g = workbench_tflite::read(bytes).ok()?;
    let (k, &t) = g
        .outputs
        .iter()
        .enumerate()
        .find(|(_, &t)| g.tensors[t].data.is_some())?;
    Some(format!("graph output {k} is constant tensor {t}"))
}

thread_local! {
    /// The last panic on this thread: message and location.
    static PANIC: RefCell<Option<(String, String)>> = const { RefCell::new(None) };
}

/// Runs `f`, turning a panic into `Err((message, file:line))`.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, (String, String)> {
    PANIC.with(|p| p.borrow_mut().take());
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|_| {
        PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| ("?".into(), "?".into()))
    })
}

/// Whether an error message names something concrete: an op, a tensor, a field or a byte range.
fn concrete(msg: &str) -> bool {
    const WORDS: [&str; 24] = [
        "op ",
        "tensor",
        "byte",
        "field",
        "offset",
        "range",
        "buffer",
        "opcode",
        "subgraph",
        "identifier",
        "version",
        "input",
        "output",
        "shape",
        "arena",
        "quantiz",
        "scale",
        "zero point",
        "zero_point",
        "axis",
        "operator",
        "type",
        "dimension",
        "table",
    ];
    let lower = msg.to_lowercase();
    WORDS.iter().any(|w| lower.contains(w))
}

/// What happened to one side (host or board) on one case.
#[derive(Debug)]
enum Outcome {
    /// Ran; output 0's bytes.
    Ok(Vec<u8>),
    Rejected(String),
    Panicked {
        message: String,
        location: String,
    },
}

fn outcome(r: Result<Result<Vec<u8>, String>, (String, String)>) -> Outcome {
    match r {
        Ok(Ok(out)) => Outcome::Ok(out),
        Ok(Err(e)) => Outcome::Rejected(e),
        Err((message, location)) => Outcome::Panicked { message, location },
    }
}

/// Every `.tflite` under `tests/refs/`, `tests/refs/keras3/` and `tests/refs/mlperf/`.
fn models() -> Vec<PathBuf> {
    let refs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/refs");
    let mut out = Vec::new();
    for dir in [refs.clone(), refs.join("keras3"), refs.join("mlperf")] {
        for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "tflite") {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(
        out.len() > 100,
        "expected the ~110 fixture models, found {}",
        out.len()
    );
    out
}

/// A failure found by the fuzzer.
struct Finding {
    side: &'static str,
    model: String,
    mutation: String,
    /// Panic message or vague error.
    message: String,
    /// `file:line:col` of a panic, `error` for a vague error, `slow` for a slow case.
    location: String,
}

impl Finding {
    fn known(&self) -> Option<usize> {
        KNOWN.iter().position(|k| {
            k.side == self.side
                && self.location.starts_with(k.file)
                && self.message.contains(k.message)
        })
    }
}

/// Counts of one run.
#[derive(Default)]
struct Stats {
    cases: usize,
    host_ok: usize,
    board_ok: usize,
    host_rejected: usize,
    board_rejected: usize,
    both_ran: usize,
    /// Cases one side ran and the other rejected (reported, not failures).
    divergent: Vec<String>,
    slowest: (Duration, String),
}

fn env_usize(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| {
        let v = v.trim();
        v.strip_prefix("0x")
            .map_or_else(|| v.parse().ok(), |h| u64::from_str_radix(h, 16).ok())
    })
}

#[test]
fn mutated_models_never_panic_hang_or_fail_vaguely() {
    let default_cases = if cfg!(debug_assertions) {
        CASES_PER_MODEL_DEBUG
    } else {
        CASES_PER_MODEL
    };
    let per_model = env_usize("FUZZ_CASES").map_or(default_cases, |n| n as usize);
    let case_limit = CASE_LIMIT * if cfg!(debug_assertions) { 5 } else { 1 };
    let seed = env_usize("FUZZ_SEED").unwrap_or(SEED);
    let verbose = std::env::var_os("FUZZ_VERBOSE").is_some();
    panic::set_hook(Box::new(|info| {
        let message = if let Some(s) = info.payload().downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.clone()
        } else {
            "(non-string panic)".into()
        };
        let location = info.location().map_or_else(
            || "?".into(),
            |l| format!("{}:{}:{}", l.file(), l.line(), l.column()),
        );
        PANIC.with(|p| *p.borrow_mut() = Some((message, location)));
    }));

    let models = models();
    let current = Arc::new(Mutex::new(String::new()));
    let progress = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let worker = {
        let (current, progress, done) = (current.clone(), progress.clone(), done.clone());
        std::thread::spawn(move || {
            let mut arena = vec![0u8; BOARD_ARENA];
            let mut stats = Stats::default();
            let mut findings = Vec::new();
            for (m, path) in models.iter().enumerate() {
                let name = path
                    .strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/refs"))
                    .unwrap_or(path)
                    .display()
                    .to_string();
                let orig = std::fs::read(path).unwrap();
                let s = sites(&orig);
                let mut rng = Rng(seed ^ (m as u64).wrapping_mul(0x1000_0000_01b3));
                // Models the host runs as they are get more cases: their mutants get further.
                let runs = guarded(|| host(&orig)).is_ok_and(|r| r.is_ok());
                let cases = if runs {
                    per_model * RUNNABLE_FACTOR
                } else {
                    per_model
                };
                for k in 0..cases {
                    let mutant = mutate(&orig, &s, k, &mut rng);
                    *current.lock().unwrap() = format!("{name}: {}", mutant.what);
                    let t = Instant::now();
                    let h = outcome(guarded(|| host(&mutant.bytes)));
                    let b = outcome(guarded(|| board(&mutant.bytes, &mut arena)));
                    let took = t.elapsed();
                    stats.cases += 1;
                    if took > stats.slowest.0 {
                        stats.slowest = (took, format!("{name}: {}", mutant.what));
                    }
                    if verbose {
                        eprintln!(
                            "{name}: {}: host {h:?}, board {b:?} ({took:?})",
                            mutant.what
                        );
                    }
                    for (side, o) in [("host", &h), ("board", &b)] {
                        let finding = |message: String, location: String| Finding {
                            side,
                            model: name.clone(),
                            mutation: mutant.what.clone(),
                            message,
                            location,
                        };
                        match o {
                            Outcome::Ok(_) => {
                                if side == "host" {
                                    stats.host_ok += 1
                                } else {
                                    stats.board_ok += 1
                                }
                            }
                            Outcome::Rejected(e) => {
                                if side == "host" {
                                    stats.host_rejected += 1
                                } else {
                                    stats.board_rejected += 1
                                }
                                if !concrete(e) {
                                    findings.push(finding(e.clone(), "error".into()));
                                }
                            }
                            Outcome::Panicked { message, location } => {
                                findings.push(finding(message.clone(), location.clone()))
                            }
                        }
                    }
                    match (&h, &b) {
                        (Outcome::Rejected(e), Outcome::Ok(_)) => stats
                            .divergent
                            .push(format!("{name} [{}]: host: {e}; board ran", mutant.what)),
                        (Outcome::Ok(_), Outcome::Rejected(e)) => stats
                            .divergent
                            .push(format!("{name} [{}]: board: {e}; host ran", mutant.what)),
                        _ => {}
                    }
                    // Both accepted the same bytes: one preparation, so one answer.
                    if let (Outcome::Ok(a), Outcome::Ok(b)) = (&h, &b) {
                        stats.both_ran += 1;
                        if a != b {
                            let differ = a.iter().zip(b).filter(|(x, y)| x != y).count();
                            let why = unwritten_read(&mutant.bytes)
                                .or_else(|| constant_output(&mutant.bytes))
                                .map_or_else(String::new, |w| format!(" ({w})"));
                            findings.push(Finding {
                                side: "host+board",
                                model: name.clone(),
                                mutation: mutant.what.clone(),
                                message: format!(
                                    "outputs differ: {} and {} bytes, {differ} differing{why}",
                                    a.len(),
                                    b.len()
                                ),
                                location: "differ".into(),
                            });
                        }
                    }
                    if took > case_limit {
                        findings.push(Finding {
                            side: "host+board",
                            model: name.clone(),
                            mutation: mutant.what.clone(),
                            message: format!("took {took:?}, limit {case_limit:?}"),
                            location: "slow".into(),
                        });
                    }
                    progress.fetch_add(1, Ordering::Relaxed);
                }
            }
            done.store(true, Ordering::Relaxed);
            (stats, findings)
        })
    };

    // Watchdog: a case that makes no progress for HANG_LIMIT is a hang.
    let (mut last, mut since) = (0, Instant::now());
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        let p = progress.load(Ordering::Relaxed);
        if p != last {
            (last, since) = (p, Instant::now());
        } else if since.elapsed() > HANG_LIMIT {
            let case = current.lock().unwrap().clone();
            let _ = panic::take_hook();
            panic!("hang: no progress for {HANG_LIMIT:?} after {p} cases, on {case}");
        }
    }
    let (stats, findings) = worker.join().expect("the fuzz worker does not panic");
    let _ = panic::take_hook();

    eprintln!(
        "fuzz: {} cases (seed {seed:#x}, {per_model} per model): host ran {} and rejected {}, board ran {} and rejected {}, both ran {} (same outputs unless listed); slowest {:?} ({})",
        stats.cases,
        stats.host_ok,
        stats.host_rejected,
        stats.board_ok,
        stats.board_rejected,
        stats.both_ran,
        stats.slowest.0,
        stats.slowest.1
    );
    eprintln!(
        "host and board disagree on accepting {} cases (reported, not failures):",
        stats.divergent.len()
    );
    for d in stats.divergent.iter().take(KNOWN_SHOWN) {
        eprintln!("    {d}");
    }
    let mut known_counts = vec![0usize; KNOWN.len()];
    let mut unexpected = Vec::new();
    for f in &findings {
        match f.known() {
            Some(i) => known_counts[i] += 1,
            None => unexpected.push(f),
        }
    }
    for (i, (k, n)) in KNOWN.iter().zip(&known_counts).enumerate() {
        eprintln!(
            "known failure ({n} cases): {} {} {:?}",
            k.side, k.file, k.message
        );
        for f in findings
            .iter()
            .filter(|f| f.known() == Some(i))
            .take(KNOWN_SHOWN)
        {
            eprintln!("    {} [{}]: {}", f.model, f.mutation, f.message);
        }
    }
    if !unexpected.is_empty() {
        let mut msg = format!("{} unexpected failures:\n", unexpected.len());
        for f in unexpected.iter().take(60) {
            let _ = writeln!(
                msg,
                "  - {} on {} [{}]: {} at {}",
                f.side, f.model, f.mutation, f.message, f.location
            );
        }
        panic!("{msg}");
    }
}
