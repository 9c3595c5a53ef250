//! A `.tflite` model on the board: parse the flatbuffer (verified by the
//! `flatbuffers` crate with TFLite's generated schema), prepare every op
//! exactly as the host interpreter (`workbench_tflite::Interpreter`) does,
//! place activations in the tensor arena, and run the ops on `kernels-int8`.
//!
//! Constant tensors stay in the model bytes (int8 filters are read in place);
//! int32 biases and the per-channel multipliers are decoded once into the
//! plan (heap). Activations live in the caller's arena, placed by a greedy
//! first-fit over their lifetimes (largest first, as TFLite Micro's greedy
//! planner does); the conv im2col scratch sits after them.

use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

use kernels_int8 as k;
use kernels_int8::Dims4;

use crate::berr;
use crate::error::Result;
use crate::schema as fb;

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

/// TFLite builtin codes of the supported operators.
pub mod op {
    /// ADD.
    pub const ADD: u16 = 0;
    /// AVERAGE_POOL_2D.
    pub const AVERAGE_POOL_2D: u16 = 1;
    /// CONV_2D.
    pub const CONV_2D: u16 = 3;
    /// DEPTHWISE_CONV_2D.
    pub const DEPTHWISE_CONV_2D: u16 = 4;
    /// DEQUANTIZE.
    pub const DEQUANTIZE: u16 = 6;
    /// FULLY_CONNECTED.
    pub const FULLY_CONNECTED: u16 = 9;
    /// MAX_POOL_2D.
    pub const MAX_POOL_2D: u16 = 17;
    /// RESHAPE.
    pub const RESHAPE: u16 = 22;
    /// SOFTMAX.
    pub const SOFTMAX: u16 = 25;
    /// QUANTIZE.
    pub const QUANTIZE: u16 = 114;
    /// Every supported builtin code.
    pub const SUPPORTED: [u16; 10] = [
        ADD,
        AVERAGE_POOL_2D,
        CONV_2D,
        DEPTHWISE_CONV_2D,
        DEQUANTIZE,
        FULLY_CONNECTED,
        MAX_POOL_2D,
        RESHAPE,
        SOFTMAX,
        QUANTIZE,
    ];

    /// TFLite's name of a supported builtin code.
    pub fn name(code: u16) -> &'static str {
        match code {
            ADD => "ADD",
            AVERAGE_POOL_2D => "AVERAGE_POOL_2D",
            CONV_2D => "CONV_2D",
            DEPTHWISE_CONV_2D => "DEPTHWISE_CONV_2D",
            DEQUANTIZE => "DEQUANTIZE",
            FULLY_CONNECTED => "FULLY_CONNECTED",
            MAX_POOL_2D => "MAX_POOL_2D",
            RESHAPE => "RESHAPE",
            SOFTMAX => "SOFTMAX",
            QUANTIZE => "QUANTIZE",
            _ => "?",
        }
    }
}

/// Most elements a tensor may have: its bytes (up to 8 per element) fit 32 bits.
const MAX_ELEMENTS: usize = 1 << 28;

/// Arena offsets are multiples of this (float32 tensors need 4).
const ALIGN: usize = 4;

const fn align_up(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

/// What the board knows of one tensor.
#[derive(Debug, Clone)]
struct Meta {
    shape: Vec<usize>,
    dtype: u8,
    scale: Vec<f32>,
    zero_point: Vec<i64>,
    axis: usize,
    /// Constant data: a byte range of the model.
    data: Option<Range<usize>>,
}

impl Meta {
    fn elements(&self) -> usize {
        self.shape.iter().product()
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

/// A convolution's per-channel requantization and shapes.
#[derive(Debug, Clone)]
struct Conv {
    multiplier: Vec<i32>,
    shift: Vec<i32>,
    bias: Option<Vec<i32>>,
    input_shape: Dims4,
    filter_shape: Dims4,
    output_shape: Dims4,
}

/// One prepared operator.
#[derive(Debug, Clone)]
enum Kind {
    Conv(k::conv_2d::ConvParams, Conv),
    Depthwise(k::depthwise_conv_2d::DepthwiseParams, Conv),
    FullyConnected {
        params: k::fully_connected::FullyConnectedParams,
        scale: Vec<f64>,
        accum_depth: usize,
        bias: Option<Vec<i32>>,
    },
    Pool {
        max: bool,
        params: k::max_pool_2d::PoolParams,
        input_shape: Dims4,
        output_shape: Dims4,
    },
    Reshape,
    Softmax {
        params: k::softmax::SoftmaxParams,
        depth: usize,
    },
    Add(k::add::AddParams),
    Quantize {
        scale: f32,
        zero_point: i32,
    },
    Requantize {
        input_zero_point: i32,
        output_zero_point: i32,
        multiplier: i32,
        shift: i32,
    },
    Dequantize {
        scale: f32,
        zero_point: i32,
    },
}

#[derive(Debug, Clone)]
struct Step {
    code: u16,
    kind: Kind,
    /// Tensor indices: data inputs (up to two) and the output.
    inputs: [Option<usize>; 3],
    output: usize,
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
}

/// Parses and prepares `model`; `arena_capacity` bounds the activations plus scratch.
pub fn prepare(model: &[u8], arena_capacity: usize) -> Result<Plan> {
    if model.len() < 8 || !fb::model_buffer_has_identifier(model) {
        return Err(berr!(
            BadModel,
            0,
            0,
            "not a tflite model: file identifier is not TFL3"
        ));
    }
    let m = fb::root_as_model(model)
        .map_err(|e| berr!(BadModel, 0, 0, "invalid tflite flatbuffer: {e}"))?;
    if m.version() != 3 {
        return Err(berr!(
            BadModel,
            m.version(),
            3,
            "unsupported schema version {}, expected 3",
            m.version()
        ));
    }
    let subgraphs = m
        .subgraphs()
        .ok_or_else(|| berr!(BadModel, 0, 0, "model has no subgraphs"))?;
    if subgraphs.len() != 1 {
        return Err(berr!(
            BadModel,
            subgraphs.len(),
            1,
            "model has {} subgraphs, only 1 is supported",
            subgraphs.len()
        ));
    }
    let sg = subgraphs.get(0);
    let base = model.as_ptr() as usize;
    let buffers = m.buffers();
    let mut metas = Vec::new();
    for (i, t) in sg.tensors().into_iter().flatten().enumerate() {
        metas.push(tensor_meta(i, &t, buffers, base)?);
    }
    let n = metas.len();
    let list = |l: Option<flatbuffers::Vector<'_, i32>>, what: &str| -> Result<Vec<usize>> {
        let mut v = Vec::new();
        for t in l.into_iter().flatten() {
            if t < 0 || t as usize >= n {
                return Err(berr!(
                    BadModel,
                    t,
                    n,
                    "{what}: tensor index {t} out of range (0..{n})"
                ));
            }
            v.push(t as usize);
        }
        Ok(v)
    };
    let graph_inputs = list(sg.inputs(), "subgraph inputs")?;
    let graph_outputs = list(sg.outputs(), "subgraph outputs")?;
    let codes = m.operator_codes();
    let mut steps = Vec::new();
    for (index, o) in sg.operators().into_iter().flatten().enumerate() {
        let oi = o.opcode_index() as usize;
        let code = codes
            .filter(|c| oi < c.len())
            .map(|c| c.get(oi))
            .ok_or_else(|| {
                berr!(
                    BadModel,
                    index,
                    oi,
                    "op {index}: opcode_index {oi} out of range"
                )
            })?;
        let builtin = (code.deprecated_builtin_code() as i32).max(code.builtin_code().0);
        let mut ins = Vec::new();
        for t in o.inputs().into_iter().flatten() {
            ins.push(match t {
                -1 => None,
                t if t >= 0 && (t as usize) < n => Some(t as usize),
                t => {
                    return Err(berr!(
                        BadModel,
                        index,
                        t,
                        "op {index}: input tensor index {t} out of range"
                    ))
                }
            });
        }
        let outs: Vec<i32> = o.outputs().into_iter().flatten().collect();
        let [out] = outs[..] else {
            return Err(berr!(
                BadModel,
                index,
                outs.len(),
                "op {index}: expected 1 output, got {}",
                outs.len()
            ));
        };
        if out < 0 || out as usize >= n {
            return Err(berr!(
                BadModel,
                index,
                out,
                "op {index}: output tensor index {out} out of range"
            ));
        }
        let Some(&Some(_)) = ins.first() else {
            return Err(berr!(BadModel, index, 0, "op {index}: input 0 is missing"));
        };
        if !op::SUPPORTED.contains(&(builtin as u16)) || builtin < 0 || builtin > u16::MAX as i32 {
            let name = fb::BuiltinOperator(builtin)
                .variant_name()
                .unwrap_or("unknown");
            return Err(berr!(
                UnsupportedOp,
                index,
                builtin,
                "op {index}: unsupported operator {name} (builtin code {builtin})"
            ));
        }
        let p = Prep {
            metas: &metas,
            model,
            index,
            code: builtin as u16,
            ins: &ins,
            out: out as usize,
            op: &o,
        };
        steps.push(p.prepare()?);
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
    plan(metas, steps, graph_inputs, graph_outputs, arena_capacity)
}

fn tensor_meta(
    i: usize,
    t: &fb::Tensor<'_>,
    buffers: Option<flatbuffers::Vector<'_, flatbuffers::ForwardsUOffset<fb::Buffer<'_>>>>,
    base: usize,
) -> Result<Meta> {
    let mut shape = Vec::new();
    for d in t.shape().into_iter().flatten() {
        if d < 0 {
            return Err(berr!(
                BadModel,
                i,
                0,
                "tensor {i}: dynamic shapes are not supported"
            ));
        }
        shape.push(d as usize);
    }
    let elements = shape
        .iter()
        .try_fold(1usize, |a, &d| {
            a.checked_mul(d).filter(|&v| v < MAX_ELEMENTS)
        })
        .ok_or_else(|| {
            berr!(
                BadModel,
                i,
                0,
                "tensor {i}: shape has more than 2^28 elements"
            )
        })?;
    let dtype = t.type_().0 as u8;
    if ![dtype::F32, dtype::I32, dtype::I64, dtype::I8].contains(&dtype) || t.type_().0 < 0 {
        let name = t.type_().variant_name().unwrap_or("unknown");
        return Err(berr!(
            BadModel,
            i,
            t.type_().0,
            "tensor {i}: unsupported type {name}"
        ));
    }
    if t.is_variable() || t.sparsity().is_some() {
        return Err(berr!(
            BadModel,
            i,
            0,
            "tensor {i}: variable and sparse tensors are not supported"
        ));
    }
    let b = t.buffer() as usize;
    let buffer = buffers
        .filter(|bs| b < bs.len())
        .map(|bs| bs.get(b))
        .ok_or_else(|| berr!(BadModel, i, b, "tensor {i}: buffer index {b} out of range"))?;
    if buffer.offset() > 1 || buffer.size() > 0 {
        return Err(berr!(
            BadModel,
            i,
            b,
            "tensor {i}: buffer {b} is stored outside the flatbuffer"
        ));
    }
    let data = match buffer.data() {
        Some(d) if !d.is_empty() => {
            let bytes = d.bytes();
            let need = elements * dtype::size(dtype);
            if bytes.len() != need {
                return Err(berr!(
                    BadModel,
                    bytes.len(),
                    need,
                    "tensor {i}: buffer {b} has {} bytes, its shape needs {need}",
                    bytes.len()
                ));
            }
            let start = bytes.as_ptr() as usize - base;
            Some(start..start + bytes.len())
        }
        _ => None,
    };
    let (mut scale, mut zero_point, mut axis) = (Vec::new(), Vec::new(), 0);
    if let Some(q) = t.quantization() {
        if q.details_type() != fb::QuantizationDetails::NONE {
            return Err(berr!(
                BadModel,
                i,
                0,
                "tensor {i}: custom quantization is not supported"
            ));
        }
        scale = q.scale().into_iter().flatten().collect();
        zero_point = q.zero_point().into_iter().flatten().collect();
        if !scale.is_empty() && zero_point.len() != scale.len() {
            return Err(berr!(
                BadModel,
                scale.len(),
                zero_point.len(),
                "tensor {i}: {} scales and {} zero points",
                scale.len(),
                zero_point.len()
            ));
        }
        let a = q.quantized_dimension();
        if a < 0
            || (scale.len() > 1 && (a as usize >= shape.len() || shape[a as usize] != scale.len()))
        {
            return Err(berr!(
                BadModel,
                i,
                a,
                "tensor {i}: quantized_dimension {a} does not match {} scales",
                scale.len()
            ));
        }
        axis = a as usize;
    }
    Ok(Meta {
        shape,
        dtype,
        scale,
        zero_point,
        axis,
        data,
    })
}

/// Preparation context of one op.
struct Prep<'a> {
    metas: &'a [Meta],
    model: &'a [u8],
    index: usize,
    code: u16,
    ins: &'a [Option<usize>],
    out: usize,
    op: &'a fb::Operator<'a>,
}

fn act_from_fb(a: fb::ActivationFunctionType) -> Option<k::Activation> {
    Some(match a {
        fb::ActivationFunctionType::NONE => k::Activation::None,
        fb::ActivationFunctionType::RELU => k::Activation::Relu,
        fb::ActivationFunctionType::RELU_N1_TO_1 => k::Activation::ReluN1To1,
        fb::ActivationFunctionType::RELU6 => k::Activation::Relu6,
        _ => return None,
    })
}

impl Prep<'_> {
    fn name(&self) -> &'static str {
        op::name(self.code)
    }

    fn bad(&self, args: core::fmt::Arguments<'_>) -> crate::error::BoardError {
        crate::error::BoardError::new(
            crate::error::ErrorCode::BadModel,
            self.index as u32,
            self.code as u32,
            format_args!("op {} ({}): {}", self.index, self.name(), args),
        )
    }

    fn input(&self, k: usize) -> Result<usize> {
        self.ins
            .get(k)
            .copied()
            .flatten()
            .ok_or_else(|| self.bad(format_args!("input {k} is missing")))
    }

    fn t(&self, t: usize) -> &Meta {
        &self.metas[t]
    }

    fn expect_dtype(&self, role: &str, t: usize, d: u8) -> Result<()> {
        if self.t(t).dtype != d {
            return Err(self.bad(format_args!(
                "{role} tensor {t}: expected type {d}, got {}",
                self.t(t).dtype
            )));
        }
        Ok(())
    }

    fn per_tensor(&self, role: &str, t: usize) -> Result<(f32, i32)> {
        let m = self.t(t);
        if m.scale.len() != 1 {
            return Err(self.bad(format_args!(
                "{role} tensor {t}: expected per-tensor quantization, got {} scales",
                m.scale.len()
            )));
        }
        let s = m.scale[0];
        if !(s > 0.0 && s.is_finite()) {
            return Err(self.bad(format_args!("{role} tensor {t}: scale {s} is not positive")));
        }
        let zp = m.zero_point[0];
        let ok = if m.dtype == dtype::I8 {
            (-128..=127).contains(&zp)
        } else {
            i32::try_from(zp).is_ok()
        };
        if !ok {
            return Err(self.bad(format_args!(
                "{role} tensor {t}: zero point {zp} out of range"
            )));
        }
        Ok((s, zp as i32))
    }

    fn int8_act(&self, role: &str, t: usize) -> Result<(f32, i32)> {
        self.expect_dtype(role, t, dtype::I8)?;
        self.per_tensor(role, t)
    }

    fn const_int8(&self, role: &str, t: usize) -> Result<()> {
        self.expect_dtype(role, t, dtype::I8)?;
        if self.t(t).data.is_none() {
            return Err(self.bad(format_args!("{role} tensor {t} must be a constant")));
        }
        Ok(())
    }

    fn dims4(&self, role: &str, t: usize) -> Result<Dims4> {
        match self.t(t).shape[..] {
            [n, h, w, c] => Ok(Dims4::new(n, h, w, c)),
            _ => Err(self.bad(format_args!(
                "{role} tensor {t}: expected rank 4, got rank {}",
                self.t(t).shape.len()
            ))),
        }
    }

    fn filter_scales(&self, t: usize, channels: usize, axis: usize) -> Result<Vec<f32>> {
        let m = self.t(t);
        if m.scale.len() != 1 && (m.scale.len() != channels || m.axis != axis) {
            return Err(self.bad(format_args!(
                "filter tensor {t}: expected 1 or {channels} scales along axis {axis}, got {}",
                m.scale.len()
            )));
        }
        if m.zero_point.iter().any(|&z| z != 0) {
            return Err(self.bad(format_args!("filter tensor {t}: zero point must be 0")));
        }
        if m.scale.iter().any(|s| !(*s > 0.0 && s.is_finite())) {
            return Err(self.bad(format_args!("filter tensor {t}: scales must be positive")));
        }
        Ok(m.scale.clone())
    }

    fn bias(&self, channels: usize) -> Result<Option<Vec<i32>>> {
        let Some(t) = self.ins.get(2).copied().flatten() else {
            return Ok(None);
        };
        self.expect_dtype("bias", t, dtype::I32)?;
        let Some(r) = self.t(t).data.clone() else {
            return Err(self.bad(format_args!("bias tensor {t} must be a constant")));
        };
        if self.t(t).elements() != channels {
            return Err(self.bad(format_args!(
                "bias tensor {t} has {} values, expected {channels}",
                self.t(t).elements()
            )));
        }
        Ok(Some(
            self.model[r]
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ))
    }

    fn act(&self, a: fb::ActivationFunctionType, scale: f32, zp: i32) -> Result<(i32, i32)> {
        let a = act_from_fb(a)
            .ok_or_else(|| self.bad(format_args!("unsupported fused activation {}", a.0)))?;
        Ok(k::requant::activation_range(a, scale, zp))
    }

    fn expect_shape(&self, t: usize, w: Dims4) -> Result<()> {
        if self.t(t).shape[..] != [w.n, w.h, w.w, w.c] {
            return Err(self.bad(format_args!(
                "output tensor {t} has the wrong shape, expected [{}, {}, {}, {}]",
                w.n, w.h, w.w, w.c
            )));
        }
        Ok(())
    }

    fn positive(&self, what: &str, v: i32) -> Result<usize> {
        if v >= 1 {
            Ok(v as usize)
        } else {
            Err(self.bad(format_args!("{what} must be at least 1, got {v}")))
        }
    }

    /// Output size and padding before (TFLite's `ComputePaddingHeightWidth`).
    #[allow(clippy::too_many_arguments)]
    fn spatial(
        &self,
        padding: fb::Padding,
        sh: usize,
        sw: usize,
        input: Dims4,
        fh: usize,
        fw: usize,
        dh: usize,
        dw: usize,
    ) -> Result<(usize, usize, usize, usize)> {
        let pad = match padding {
            fb::Padding::SAME => k::padding::Padding::Same,
            fb::Padding::VALID => k::padding::Padding::Valid,
            p => return Err(self.bad(format_args!("unknown padding {}", p.0))),
        };
        let oh = k::padding::output_size(pad, input.h, fh, sh, dh);
        let ow = k::padding::output_size(pad, input.w, fw, sw, dw);
        if oh == 0 || ow == 0 {
            return Err(self.bad(format_args!(
                "filter {fh}x{fw} does not fit input {}x{}",
                input.h, input.w
            )));
        }
        Ok((
            oh,
            ow,
            k::padding::padding_before(sh, dh, input.h, fh, oh),
            k::padding::padding_before(sw, dw, input.w, fw, ow),
        ))
    }

    fn same_len(&self, input: usize) -> Result<()> {
        if self.t(input).elements() != self.t(self.out).elements() {
            return Err(self.bad(format_args!(
                "input tensor {input} and output tensor {} differ in size",
                self.out
            )));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn conv(
        &self,
        depthwise: bool,
        padding: fb::Padding,
        sh: i32,
        sw: i32,
        dh: i32,
        dw: i32,
        act: fb::ActivationFunctionType,
    ) -> Result<Kind> {
        let (input, filter) = (self.input(0)?, self.input(1)?);
        let (in_scale, in_zp) = self.int8_act("input", input)?;
        self.const_int8("filter", filter)?;
        let (out_scale, out_zp) = self.int8_act("output", self.out)?;
        let is = self.dims4("input", input)?;
        let fs = self.dims4("filter", filter)?;
        let (sh, sw) = (
            self.positive("stride_h", sh)?,
            self.positive("stride_w", sw)?,
        );
        let (dh, dw) = (
            self.positive("dilation_h_factor", dh)?,
            self.positive("dilation_w_factor", dw)?,
        );
        let (channels, axis) = if depthwise {
            if fs.n != 1 || is.c == 0 || !fs.c.is_multiple_of(is.c) {
                return Err(self.bad(format_args!(
                    "filter tensor {filter} is not [1, h, w, {} * multiplier]",
                    is.c
                )));
            }
            (fs.c, 3)
        } else {
            if fs.c != is.c {
                return Err(self.bad(format_args!(
                    "filter tensor {filter} has {} input channels, input has {}",
                    fs.c, is.c
                )));
            }
            (fs.n, 0)
        };
        let scales = self.filter_scales(filter, channels, axis)?;
        let bias = self.bias(channels)?;
        let (oh, ow, ph, pw) = self.spatial(padding, sh, sw, is, fs.h, fs.w, dh, dw)?;
        let os = Dims4::new(is.n, oh, ow, channels);
        self.expect_shape(self.out, os)?;
        let mut multiplier = vec![0; channels];
        let mut shift = vec![0; channels];
        k::requant::conv_multipliers(in_scale, &scales, out_scale, &mut multiplier, &mut shift);
        let (activation_min, activation_max) = self.act(act, out_scale, out_zp)?;
        let conv = Conv {
            multiplier,
            shift,
            bias,
            input_shape: is,
            filter_shape: fs,
            output_shape: os,
        };
        Ok(if depthwise {
            Kind::Depthwise(
                k::depthwise_conv_2d::DepthwiseParams {
                    input_offset: -in_zp,
                    output_offset: out_zp,
                    stride_w: sw,
                    stride_h: sh,
                    dilation_w: dw,
                    dilation_h: dh,
                    padding_w: pw,
                    padding_h: ph,
                    depth_multiplier: fs.c / is.c,
                    activation_min,
                    activation_max,
                },
                conv,
            )
        } else {
            Kind::Conv(
                k::conv_2d::ConvParams {
                    input_offset: -in_zp,
                    output_offset: out_zp,
                    stride_w: sw,
                    stride_h: sh,
                    dilation_w: dw,
                    dilation_h: dh,
                    padding_w: pw,
                    padding_h: ph,
                    activation_min,
                    activation_max,
                },
                conv,
            )
        })
    }

    fn prepare(&self) -> Result<Step> {
        let out = self.out;
        if self.ins.contains(&Some(out)) {
            return Err(self.bad(format_args!("output tensor {out} is also an input")));
        }
        let missing = |what: &str| self.bad(format_args!("missing {what}"));
        let mut inputs = [Some(self.input(0)?), None, None];
        let kind = match self.code {
            op::CONV_2D => {
                let o = self
                    .op
                    .builtin_options_as_conv_2_doptions()
                    .ok_or_else(|| missing("Conv2DOptions"))?;
                self.conv(
                    false,
                    o.padding(),
                    o.stride_h(),
                    o.stride_w(),
                    o.dilation_h_factor(),
                    o.dilation_w_factor(),
                    o.fused_activation_function(),
                )?
            }
            op::DEPTHWISE_CONV_2D => {
                let o = self
                    .op
                    .builtin_options_as_depthwise_conv_2_doptions()
                    .ok_or_else(|| missing("DepthwiseConv2DOptions"))?;
                self.conv(
                    true,
                    o.padding(),
                    o.stride_h(),
                    o.stride_w(),
                    o.dilation_h_factor(),
                    o.dilation_w_factor(),
                    o.fused_activation_function(),
                )?
            }
            op::FULLY_CONNECTED => {
                let act = match self.op.builtin_options_as_fully_connected_options() {
                    Some(o) => {
                        if o.weights_format() != fb::FullyConnectedOptionsWeightsFormat::DEFAULT
                            || o.asymmetric_quantize_inputs()
                        {
                            return Err(self.bad(format_args!(
                                "unsupported weights format or hybrid quantization"
                            )));
                        }
                        o.fused_activation_function()
                    }
                    None => fb::ActivationFunctionType::NONE,
                };
                let (input, weights) = (self.input(0)?, self.input(1)?);
                let (in_scale, in_zp) = self.int8_act("input", input)?;
                self.const_int8("weights", weights)?;
                let (out_scale, out_zp) = self.int8_act("output", out)?;
                let [units, accum_depth] = self.t(weights).shape[..] else {
                    return Err(self.bad(format_args!("weights tensor {weights}: expected rank 2")));
                };
                let in_elems = self.t(input).elements();
                if accum_depth == 0 || !in_elems.is_multiple_of(accum_depth) {
                    return Err(self.bad(format_args!(
                        "weights have {accum_depth} inputs, input tensor {input} has {in_elems}"
                    )));
                }
                if self.t(out).elements() != in_elems / accum_depth * units {
                    return Err(self.bad(format_args!(
                        "output tensor {out} has {} values, expected {} x {units}",
                        self.t(out).elements(),
                        in_elems / accum_depth
                    )));
                }
                let scales = self.filter_scales(weights, units, 0)?;
                let bias = self.bias(units)?;
                // LiteRT's reference FULLY_CONNECTED rescales in double, as the host interpreter does.
                let scale = scales
                    .iter()
                    .map(|&s| k::fully_connected_litert::effective_scale(in_scale, s, out_scale))
                    .collect();
                let (activation_min, activation_max) = self.act(act, out_scale, out_zp)?;
                inputs[1] = Some(weights);
                Kind::FullyConnected {
                    params: k::fully_connected::FullyConnectedParams {
                        input_offset: -in_zp,
                        weights_offset: 0,
                        output_offset: out_zp,
                        activation_min,
                        activation_max,
                    },
                    scale,
                    accum_depth,
                    bias,
                }
            }
            op::MAX_POOL_2D | op::AVERAGE_POOL_2D => {
                let o = self
                    .op
                    .builtin_options_as_pool_2_doptions()
                    .ok_or_else(|| missing("Pool2DOptions"))?;
                let input = self.input(0)?;
                let (in_scale, in_zp) = self.int8_act("input", input)?;
                let (out_scale, out_zp) = self.int8_act("output", out)?;
                if (in_scale - out_scale).abs() > 1e-6 || in_zp != out_zp {
                    return Err(
                        self.bad(format_args!("output quantization differs from the input's"))
                    );
                }
                let is = self.dims4("input", input)?;
                let (fh, fw) = (
                    self.positive("filter_height", o.filter_height())?,
                    self.positive("filter_width", o.filter_width())?,
                );
                let (sh, sw) = (
                    self.positive("stride_h", o.stride_h())?,
                    self.positive("stride_w", o.stride_w())?,
                );
                let (oh, ow, ph, pw) = self.spatial(o.padding(), sh, sw, is, fh, fw, 1, 1)?;
                let os = Dims4::new(is.n, oh, ow, is.c);
                self.expect_shape(out, os)?;
                let (activation_min, activation_max) =
                    self.act(o.fused_activation_function(), out_scale, out_zp)?;
                Kind::Pool {
                    max: self.code == op::MAX_POOL_2D,
                    params: k::max_pool_2d::PoolParams {
                        stride_w: sw,
                        stride_h: sh,
                        filter_w: fw,
                        filter_h: fh,
                        padding_w: pw,
                        padding_h: ph,
                        activation_min,
                        activation_max,
                    },
                    input_shape: is,
                    output_shape: os,
                }
            }
            op::RESHAPE => {
                let input = self.input(0)?;
                if self.t(input).dtype != self.t(out).dtype
                    || !matches!(self.t(out).dtype, dtype::I8 | dtype::F32)
                {
                    return Err(self.bad(format_args!(
                        "input and output types differ or are not int8/float32"
                    )));
                }
                self.same_len(input)?;
                Kind::Reshape
            }
            op::SOFTMAX => {
                let o = self
                    .op
                    .builtin_options_as_softmax_options()
                    .ok_or_else(|| missing("SoftmaxOptions"))?;
                let input = self.input(0)?;
                let (in_scale, _) = self.int8_act("input", input)?;
                let (out_scale, out_zp) = self.int8_act("output", out)?;
                if (out_scale - 1.0 / 256.0).abs() > 0.001 / 256.0 || out_zp != -128 {
                    return Err(self.bad(format_args!(
                        "int8 softmax needs output scale 1/256 and zero point -128"
                    )));
                }
                let shape = &self.t(input).shape;
                if *shape != self.t(out).shape || shape.is_empty() {
                    return Err(self.bad(format_args!("output shape differs from the input's")));
                }
                let beta = o.beta();
                let real = f64::from(beta) * f64::from(in_scale) * f64::from(1u32 << 26);
                if !(real > 1.0 && real.is_finite()) {
                    return Err(self.bad(format_args!(
                        "beta {beta} with input scale {in_scale} is out of range"
                    )));
                }
                Kind::Softmax {
                    params: k::softmax::prepare(f64::from(beta), f64::from(in_scale)),
                    depth: *shape.last().unwrap_or(&1),
                }
            }
            op::ADD => {
                let act = self
                    .op
                    .builtin_options_as_add_options()
                    .map(|o| o.fused_activation_function())
                    .unwrap_or(fb::ActivationFunctionType::NONE);
                let (a, b) = (self.input(0)?, self.input(1)?);
                let (sa, za) = self.int8_act("input", a)?;
                let (sb, zb) = self.int8_act("input", b)?;
                let (so, zo) = self.int8_act("output", out)?;
                for t in [a, b] {
                    if self.t(t).shape != self.t(out).shape {
                        return Err(self.bad(format_args!("input tensor {t} shape differs from the output's (broadcasting is not supported)")));
                    }
                }
                let (lo, hi) = self.act(act, so, zo)?;
                inputs[1] = Some(b);
                Kind::Add(k::add::prepare(sa, za, sb, zb, so, zo, lo, hi))
            }
            op::QUANTIZE => {
                let input = self.input(0)?;
                let (so, zo) = self.int8_act("output", out)?;
                self.same_len(input)?;
                match self.t(input).dtype {
                    dtype::F32 => Kind::Quantize {
                        scale: so,
                        zero_point: zo,
                    },
                    dtype::I8 => {
                        let (si, zi) = self.per_tensor("input", input)?;
                        let (multiplier, shift) = k::quantize::requantize_multiplier(si, so);
                        Kind::Requantize {
                            input_zero_point: zi,
                            output_zero_point: zo,
                            multiplier,
                            shift,
                        }
                    }
                    d => {
                        return Err(self.bad(format_args!("input type {d} is not float32 or int8")))
                    }
                }
            }
            op::DEQUANTIZE => {
                let input = self.input(0)?;
                let (scale, zero_point) = self.int8_act("input", input)?;
                self.expect_dtype("output", out, dtype::F32)?;
                self.same_len(input)?;
                Kind::Dequantize { scale, zero_point }
            }
            _ => unreachable!("checked against op::SUPPORTED"),
        };
        if let Kind::Conv(..) | Kind::Depthwise(..) = kind {
            inputs[1] = Some(self.input(1)?);
        }
        // Activations read by the kernels must be non-constant int8/f32 (filters stay in the model).
        for (k, t) in inputs.iter().enumerate() {
            if let Some(t) = *t {
                let constant_ok = k == 1
                    && matches!(
                        self.code,
                        op::CONV_2D | op::DEPTHWISE_CONV_2D | op::FULLY_CONNECTED
                    );
                if self.t(t).data.is_some() && !constant_ok {
                    return Err(self.bad(format_args!(
                        "constant input tensor {t} is not supported here"
                    )));
                }
            }
        }
        if self.t(out).data.is_some() {
            return Err(self.bad(format_args!("output tensor {out} is a constant")));
        }
        Ok(Step {
            code: self.code,
            kind,
            inputs,
            output: out,
        })
    }
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
        for t in s.inputs.iter().flatten() {
            first[*t] = first[*t].min(i);
            last[*t] = last[*t].max(i);
        }
        first[s.output] = first[s.output].min(i);
        last[s.output] = last[s.output].max(i);
    }
    for &t in gin.iter().chain(&gout) {
        first[t] = 0;
        last[t] = last_step;
    }
    let mut slots: Vec<Slot> = metas
        .iter()
        .map(|m| Slot {
            at: m.data.as_ref().map_or(At::Nowhere, |r| At::Model(r.start)),
            bytes: m.elements() * dtype::size(m.dtype),
        })
        .collect();
    let mut order: Vec<usize> = (0..n)
        .filter(|&t| metas[t].data.is_none() && first[t] != usize::MAX)
        .collect();
    for &t in &order {
        if !matches!(metas[t].dtype, dtype::I8 | dtype::F32) {
            return Err(berr!(
                BadModel,
                t,
                metas[t].dtype,
                "tensor {t}: activations must be int8 or float32"
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
    let scratch = steps
        .iter()
        .map(|s| match &s.kind {
            Kind::Conv(_, c) => k::conv_2d::conv_scratch_len(c.filter_shape, c.output_shape),
            _ => 0,
        })
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
        let (scale, zero_point) = match (m.scale.first(), m.zero_point.first()) {
            (Some(&s), Some(&z)) => (s, z as i32),
            _ => (1.0, 0),
        };
        Io {
            tensor: t,
            dtype: m.dtype,
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
        let mut n = self.slots.len() * size_of::<Slot>() + self.steps.len() * size_of::<Step>();
        for s in &self.steps {
            n += match &s.kind {
                Kind::Conv(_, c) | Kind::Depthwise(_, c) => {
                    (c.multiplier.len() + c.shift.len() + c.bias.as_ref().map_or(0, Vec::len)) * 4
                }
                Kind::FullyConnected { scale, bias, .. } => {
                    scale.len() * 8 + bias.as_ref().map_or(0, Vec::len) * 4
                }
                _ => 0,
            };
        }
        n
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
        let s = &self.steps[i];
        let (act, scratch) = arena.split_at_mut(self.activations);
        let out_r = self.arena_range(s.output);
        let (lo, rest) = act.split_at_mut(out_r.start);
        let (out, hi) = rest.split_at_mut(out_r.len());
        let view = |t: Option<usize>| -> &[u8] {
            let Some(t) = t else { return &[] };
            match self.slots[t].at {
                At::Model(o) => &model[o..o + self.slots[t].bytes],
                At::Arena(o) => {
                    let r = o..o + self.slots[t].bytes;
                    if r.end <= out_r.start {
                        &lo[r]
                    } else {
                        &hi[r.start - out_r.end..r.end - out_r.end]
                    }
                }
                At::Nowhere => &[],
            }
        };
        let (x, y) = (view(s.inputs[0]), view(s.inputs[1]));
        match &s.kind {
            Kind::Conv(p, c) => k::conv_2d::conv_per_channel_fast(
                p,
                &c.multiplier,
                &c.shift,
                c.input_shape,
                as_i8(x),
                c.filter_shape,
                as_i8(y),
                c.bias.as_deref(),
                c.output_shape,
                as_i8_mut(out),
                as_i8_mut(scratch),
            ),
            Kind::Depthwise(p, c) => k::depthwise_conv_2d::depthwise_conv_per_channel_fast(
                p,
                &c.multiplier,
                &c.shift,
                c.input_shape,
                as_i8(x),
                c.filter_shape,
                as_i8(y),
                c.bias.as_deref(),
                c.output_shape,
                as_i8_mut(out),
            ),
            Kind::FullyConnected {
                params,
                scale,
                accum_depth,
                bias,
            } => k::fully_connected_litert::fully_connected_fast(
                params,
                scale,
                *accum_depth,
                as_i8(x),
                as_i8(y),
                bias.as_deref(),
                as_i8_mut(out),
            ),
            Kind::Pool {
                max,
                params,
                input_shape,
                output_shape,
            } => {
                let f = if *max {
                    k::max_pool_2d::max_pool
                } else {
                    k::average_pool_2d::average_pool
                };
                f(
                    params,
                    *input_shape,
                    as_i8(x),
                    *output_shape,
                    as_i8_mut(out),
                );
            }
            Kind::Reshape => out.copy_from_slice(x),
            Kind::Softmax { params, depth } => {
                k::softmax::softmax(params, *depth, as_i8(x), as_i8_mut(out))
            }
            Kind::Add(p) => k::add::add(p, as_i8(x), as_i8(y), as_i8_mut(out)),
            Kind::Quantize { scale, zero_point } => {
                k::quantize::affine_quantize(*scale, *zero_point, as_f32(x), as_i8_mut(out))
            }
            Kind::Requantize {
                input_zero_point,
                output_zero_point,
                multiplier,
                shift,
            } => k::quantize::requantize(
                *input_zero_point,
                *output_zero_point,
                *multiplier,
                *shift,
                as_i8(x),
                as_i8_mut(out),
            ),
            Kind::Dequantize { scale, zero_point } => {
                k::dequantize::dequantize(*scale, *zero_point, as_i8(x), as_f32_mut(out))
            }
        }
    }
}
