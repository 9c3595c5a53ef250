//! Normalization layers against TensorFlow: the workbench's float export
//! (`quant::build_float`) of four small models with batch or layer norms, and
//! `quant::convert` of that export, against TF 2.21's converter on the same
//! Keras 3 models (`tests/refs/keras3/norm_layers.py`).
//!
//! Each variant gets seeded random weights (biases, batch-norm statistics and
//! norms' gamma and beta away from their initial values), written as `.npy`
//! for the Keras twin. Both float `.tflite` files must list the same builtin
//! ops in order, leaving out the int32 shape arithmetic of Keras 3's
//! dynamic-batch `Flatten` (SHAPE, STRIDED_SLICE, PACK: TF computes the
//! `[batch, n]` shape at run time, we write it as a constant; both
//! interpreters fold it at prepare), and give the same outputs in TFLite's
//! interpreter within [`FLOAT_TOL`]. The int8 conversions (ours of our float
//! file, TF's of the Keras model, one representative set) must list the same
//! ops, quantize every op's output with TF's scale (to 1e-5 relative) and zero
//! point, and give the same int8 outputs: at most 1% of the values may differ,
//! each by one step, as in `quant_convert.rs`. Also: a layer-norm model
//! trains (its loss goes down with `fit`).

use std::path::Path;
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use candle_core::{Device, Tensor, Var};
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde::Deserialize;
use workbench::npy::{read_npy, write_npy, NpyArray, NpyData};
use workbench::quant::convert::{convert, ConvertOptions};
use workbench::quant::debug::Debugger;
use workbench::quant::ptq::permute_dense_columns;
use workbench::quant::{build_float, FloatOptions};
use workbench::train::layer::normal;
use workbench::train::{
    fit, Activation, BatchNormConfig, Conv2dConfig, FitConfig, Layer, Length, Padding, Samples,
    Sequential, LAYER_NORM_EPSILON,
};
use workbench_tests::{python, refs_dir, scratch_dir};

/// Largest absolute difference allowed between our float model's outputs and TF's.
const FLOAT_TOL: f32 = 1e-5;
/// Most int8 output values that may differ from TF's (each by one step), as a fraction.
const MAX_DIFFERING: f64 = 0.01;
/// Relative tolerance on int8 output scales.
const SCALE_RTOL: f64 = 1e-5;
/// Calibration samples.
const REPRESENTATIVE: usize = 32;
/// Samples compared.
const BATCH: usize = 16;

/// The variants, named as in `norm_layers.py`: the workbench model and its export options.
fn variant(name: &str) -> Result<(Sequential, FloatOptions)> {
    let bn = BatchNormConfig::keras();
    let plain = FloatOptions::default();
    let (builder, options) = match name {
        // (a) Conv -> BatchNorm -> ReLU: folds into the CONV_2D
        "conv_bn_relu" => (
            Sequential::builder([2, 6, 6], 11)
                .conv2d(
                    "conv",
                    4,
                    (3, 3),
                    Conv2dConfig {
                        padding: Padding::Same,
                        ..Default::default()
                    },
                )
                .batch_norm("bn", bn, Activation::Relu),
            plain,
        ),
        // (b) Conv(ReLU) -> BatchNorm: does not fold, MUL + ADD
        "conv_relu_bn" => (
            Sequential::builder([2, 6, 6], 12)
                .conv2d(
                    "conv",
                    4,
                    (3, 3),
                    Conv2dConfig {
                        activation: Activation::Relu,
                        ..Default::default()
                    },
                )
                .batch_norm("bn", bn, Activation::None),
            plain,
        ),
        // (b) in the middle: Conv(ReLU) -> BatchNorm -> Flatten -> Dense
        "conv_relu_bn_dense" => (
            Sequential::builder([2, 6, 6], 15)
                .conv2d(
                    "conv",
                    4,
                    (3, 3),
                    Conv2dConfig {
                        activation: Activation::Relu,
                        ..Default::default()
                    },
                )
                .batch_norm("bn", bn, Activation::None)
                .flatten("flatten")
                .linear("dense", 3, Activation::None),
            plain,
        ),
        // (b) on features: Dense(ReLU) -> BatchNorm
        "dense_relu_bn" => (
            Sequential::builder([2, 4, 3], 16)
                .flatten("flatten")
                .linear("dense", 5, Activation::Relu)
                .batch_norm("bn", bn, Activation::None),
            plain,
        ),
        // (c) Dense -> BatchNorm -> ReLU: folds into the FULLY_CONNECTED
        "dense_bn_relu" => (
            Sequential::builder([2, 4, 3], 13)
                .flatten("flatten")
                .linear("dense", 5, Activation::None)
                .batch_norm("bn", bn, Activation::Relu),
            plain,
        ),
        // (d) Dense -> LayerNorm -> Softmax
        "dense_layer_norm" => (
            Sequential::builder([2, 4, 3], 14)
                .flatten("flatten")
                .linear("dense", 6, Activation::None)
                .layer_norm("ln", LAYER_NORM_EPSILON),
            FloatOptions { softmax: true },
        ),
        other => bail!("no variant {other}"),
    };
    let model = builder.build()?;
    randomize(&model, 100)?;
    Ok((model, options))
}

/// Sets biases, batch-norm statistics and norms' gamma and beta to seeded random values.
fn randomize(model: &Sequential, seed: u64) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    for (name, v) in model.named_state() {
        let (lo, hi) = match name.rsplit('.').next().unwrap_or("") {
            "weight" => continue,
            "gamma" => (0.5, 1.5),
            "running_var" => (0.5, 2.0),
            "bias" => (-0.3, 0.3),
            _ => (-0.5, 0.5), // beta, running_mean
        };
        let data: Vec<f32> = (0..v.elem_count())
            .map(|_| rng.random_range(lo..hi))
            .collect();
        v.set(&Tensor::from_vec(data, v.shape(), &Device::Cpu)?)?;
    }
    Ok(())
}

fn f32_array(shape: Vec<usize>, data: Vec<f32>) -> NpyArray {
    NpyArray {
        shape,
        data: NpyData::F32(data),
    }
}

fn values(v: &Var) -> Result<Vec<f32>> {
    Ok(v.as_tensor().flatten_all()?.to_vec1::<f32>()?)
}

/// The weights of the Keras twin in `get_weights()` order and Keras' layouts.
fn keras_weights(model: &Sequential) -> Result<Vec<NpyArray>> {
    let mut out = Vec::new();
    // each layer's input shape (CHW or features)
    let mut shape = model.input_shape.to_vec();
    let mut before_flatten: Option<Vec<usize>> = None;
    for (_, layer) in &model.layers {
        match layer {
            Layer::Conv2d { weight, bias, .. } => {
                // OIHW -> HWIO
                let (o, i, kh, kw) = weight.dims4()?;
                let hwio = weight.as_tensor().permute((2, 3, 1, 0))?.flatten_all()?;
                out.push(f32_array(vec![kh, kw, i, o], hwio.to_vec1::<f32>()?));
                out.push(f32_array(vec![o], values(bias)?));
            }
            Layer::Linear { weight, bias, .. } => {
                let (o, i) = weight.dims2()?;
                let mut w = values(weight)?;
                if let Some([c, h, wd]) =
                    before_flatten.take().as_deref().map(|s| [s[0], s[1], s[2]])
                {
                    // candle flattens CHW, Keras HWC
                    w = permute_dense_columns(&w, o, [c, h, wd]);
                }
                // [out, in] -> [in, out]
                let t: Vec<f32> = (0..i * o).map(|k| w[(k % o) * i + k / o]).collect();
                out.push(f32_array(vec![i, o], t));
                out.push(f32_array(vec![o], values(bias)?));
            }
            Layer::BatchNorm {
                gamma,
                beta,
                running_mean,
                running_var,
                ..
            } => {
                for v in [gamma, beta, running_mean, running_var] {
                    out.push(f32_array(vec![v.elem_count()], values(v)?));
                }
            }
            Layer::LayerNorm { gamma, beta, .. } => {
                for v in [gamma, beta] {
                    out.push(f32_array(vec![v.elem_count()], values(v)?));
                }
            }
            Layer::Flatten => before_flatten = Some(shape.clone()),
            other => bail!("no Keras twin for {}", other.kind()),
        }
        shape = layer.output_shape(&shape)?;
    }
    Ok(out)
}

/// `n` standard-normal samples of the graph's NHWC input shape.
fn samples(n: usize, [c, h, w]: [usize; 3], seed: u64) -> Result<NpyArray> {
    let v = normal(&[n, h, w, c], 1.0, &mut StdRng::seed_from_u64(seed))?;
    Ok(f32_array(vec![n, h, w, c], values(&v)?))
}

/// One op of `VARIANT.ops.json`.
#[derive(Debug, Deserialize)]
struct OpEntry {
    op: String,
    shape_only: bool,
    scale: f64,
    zero_point: i64,
}

/// The ops of each model, as `norm_layers.py` lists them.
#[derive(Debug, Deserialize)]
struct Ops {
    ours_f32: Vec<OpEntry>,
    tf_f32: Vec<OpEntry>,
    ours_int8: Vec<OpEntry>,
    tf_int8: Vec<OpEntry>,
}

/// The ops that compute on tensors (not only on int32 shapes), by builtin name.
fn compute_ops(ops: &[OpEntry]) -> Vec<&str> {
    ops.iter()
        .filter(|o| !o.shape_only)
        .map(|o| o.op.as_str())
        .collect()
}

fn f32s(a: &NpyArray) -> Result<&[f32]> {
    match &a.data {
        NpyData::F32(v) => Ok(v),
        other => bail!("expected float32, got {}", other.dtype_name()),
    }
}

fn i8s(a: &NpyArray) -> Result<&[i8]> {
    match &a.data {
        NpyData::I8(v) => Ok(v),
        other => bail!("expected int8, got {}", other.dtype_name()),
    }
}

/// What one variant measured.
#[derive(Debug)]
struct Measured {
    ops: Vec<String>,
    int8_ops: Vec<String>,
    float_max_diff: f32,
    int8_values: usize,
    int8_differing: usize,
    int8_max_step: i32,
    debugger_rows: usize,
}

fn check(name: &str, dir: &Path) -> Result<Measured> {
    let (model, options) = variant(name)?;
    let float = build_float(&model, &options)?;
    std::fs::write(
        dir.join(format!("{name}.ours_f32.tflite")),
        workbench_tflite::write(&float)?,
    )?;
    for (k, w) in keras_weights(&model)?.iter().enumerate() {
        write_npy(dir.join(format!("{name}.weights.{k}.npy")), w)?;
    }
    let rep = samples(REPRESENTATIVE, model.input_shape, 7)?;
    let batch = samples(BATCH, model.input_shape, 8)?;
    write_npy(dir.join(format!("{name}.representative.npy")), &rep)?;
    write_npy(dir.join(format!("{name}.input.npy")), &batch)?;
    let rep = vec![rep];
    let int8 = convert(&float, &rep, &ConvertOptions::default())?;
    std::fs::write(
        dir.join(format!("{name}.ours_int8.tflite")),
        workbench_tflite::write(&int8)?,
    )?;
    // the Quantization Debugger takes the export as it takes TF's files
    let debugger_rows = Debugger::new(float.clone(), &rep, ConvertOptions::default())?
        .report(&[read_npy(dir.join(format!("{name}.input.npy")))?])?
        .len();

    let script = refs_dir().join("keras3").join("norm_layers.py");
    let out = Command::new(python()?)
        .arg(&script)
        .arg(name)
        .arg(dir)
        .env("TF_CPP_MIN_LOG_LEVEL", "2")
        .output()
        .context("running norm_layers.py")?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
        bail!(
            "norm_layers.py {name}:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    let ops: Ops = serde_json::from_str(&std::fs::read_to_string(
        dir.join(format!("{name}.ops.json")),
    )?)?;
    let out = |m: &str| read_npy(dir.join(format!("{name}.{m}.out.npy")));

    let (ours, tf) = (compute_ops(&ops.ours_f32), compute_ops(&ops.tf_f32));
    ensure!(ours == tf, "float ops differ: ours {ours:?}, TF's {tf:?}");
    let (ours_q, tf_q) = (compute_ops(&ops.ours_int8), compute_ops(&ops.tf_int8));
    ensure!(
        ours_q == tf_q,
        "int8 ops differ: ours {ours_q:?}, TF's {tf_q:?}"
    );

    // every int8 op's output quantized as TF's
    let quantized = |ops: &[OpEntry]| -> Vec<(String, f64, i64)> {
        ops.iter()
            .filter(|o| !o.shape_only)
            .map(|o| (o.op.clone(), o.scale, o.zero_point))
            .collect()
    };
    for ((op, s, z), (_, ts, tz)) in quantized(&ops.ours_int8)
        .into_iter()
        .zip(quantized(&ops.tf_int8))
    {
        ensure!(
            z == tz && (s == ts || ((s - ts) / ts).abs() <= SCALE_RTOL),
            "{op} output quantized with scale {s} zero point {z}, TF's {ts} {tz}"
        );
    }

    let (a, b) = (out("ours_f32")?, out("tf_f32")?);
    ensure!(
        a.shape == b.shape,
        "float output shapes {:?} vs TF's {:?}",
        a.shape,
        b.shape
    );
    let float_max_diff = f32s(&a)?
        .iter()
        .zip(f32s(&b)?)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    ensure!(
        float_max_diff <= FLOAT_TOL,
        "float outputs differ from TF's by up to {float_max_diff:e}"
    );

    let (a, b) = (out("ours_int8")?, out("tf_int8")?);
    ensure!(
        a.shape == b.shape,
        "int8 output shapes {:?} vs TF's {:?}",
        a.shape,
        b.shape
    );
    let steps: Vec<i32> = i8s(&a)?
        .iter()
        .zip(i8s(&b)?)
        .map(|(&x, &y)| (x as i32 - y as i32).abs())
        .collect();
    let m = Measured {
        ops: ops.tf_f32.iter().map(|o| o.op.clone()).collect(),
        int8_ops: tf_q.iter().map(|s| s.to_string()).collect(),
        float_max_diff,
        int8_values: steps.len(),
        int8_differing: steps.iter().filter(|&&s| s > 0).count(),
        int8_max_step: steps.iter().copied().max().unwrap_or(0),
        debugger_rows,
    };
    ensure!(
        m.int8_max_step <= 1 && m.int8_differing as f64 <= MAX_DIFFERING * m.int8_values as f64,
        "{} of {} int8 output values differ from TF's, by up to {} steps",
        m.int8_differing,
        m.int8_values,
        m.int8_max_step
    );
    Ok(m)
}

#[test]
fn normalization_variants_export_as_tf_does() -> Result<()> {
    python()?; // fails, with what to do, when the reference venv is missing
    let dir = scratch_dir("norm-layers")?;
    let mut failures = Vec::new();
    for name in [
        "conv_bn_relu",
        "conv_relu_bn",
        "conv_relu_bn_dense",
        "dense_relu_bn",
        "dense_bn_relu",
        "dense_layer_norm",
    ] {
        match check(name, &dir) {
            Ok(m) => eprintln!(
                "{name}: TF float ops {:?}; int8 ops {:?}; float max diff {:e}; \
                 {}/{} int8 values differ (max {} step); {} debugger rows",
                m.ops,
                m.int8_ops,
                m.float_max_diff,
                m.int8_differing,
                m.int8_values,
                m.int8_max_step,
                m.debugger_rows
            ),
            Err(e) => failures.push(format!("{name}: {e:#}")),
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} variants differ from TF:\n  - {}",
            failures.len(),
            failures.join("\n  - ")
        );
    }
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

#[test]
fn layer_norm_model_trains() -> Result<()> {
    workbench::threads::configure(&Default::default());
    // three classes by the sign pattern of two input features, a layer norm in the middle
    let model = Sequential::builder([1, 2, 4], 3)
        .flatten("flatten")
        .linear("dense1", 16, Activation::None)
        .layer_norm("ln", LAYER_NORM_EPSILON)
        .linear("dense2", 3, Activation::None)
        .build()?;
    let mut rng = StdRng::seed_from_u64(4);
    let n = 256;
    let images: Vec<f32> = (0..n * 8).map(|_| rng.random_range(-1f32..1.)).collect();
    let labels: Vec<u32> = images
        .chunks(8)
        .map(|x| match (x[0] > 0.0, x[5] > 0.0) {
            (true, true) => 0,
            (true, false) | (false, true) => 1,
            (false, false) => 2,
        })
        .collect();
    let train = Samples::new(images, labels, [1, 2, 4])?;
    let cfg = FitConfig {
        length: Length::Epochs(15),
        batch_size: 32,
        learning_rate: 1e-2,
        progress: false,
        ..FitConfig::default()
    };
    let h = fit(&model, &train, None, &cfg)?;
    let losses: Vec<f64> = h.records.iter().map(|r| r.loss).collect();
    let (first, last) = (losses[0], losses[losses.len() - 1]);
    eprintln!(
        "layer norm model: loss {first:.3} -> {last:.3} over {} epochs",
        losses.len()
    );
    ensure!(last < 0.6 * first, "loss did not go down: {losses:?}");
    // gamma and beta were trained
    let Layer::LayerNorm { gamma, beta, .. } = &model.layers[2].1 else {
        bail!("layer 2 is not the layer norm");
    };
    ensure!(
        values(gamma)?.iter().any(|&g| (g - 1.0).abs() > 1e-3)
            && values(beta)?.iter().any(|&b| b.abs() > 1e-3),
        "gamma and beta did not move"
    );
    // saved and loaded with the model's other weights
    let dir = scratch_dir("norm-layers-train")?;
    let path = dir.join("model.safetensors");
    model.save(&path)?;
    let fresh = Sequential::builder([1, 2, 4], 99)
        .flatten("flatten")
        .linear("dense1", 16, Activation::None)
        .layer_norm("ln", LAYER_NORM_EPSILON)
        .linear("dense2", 3, Activation::None)
        .build()?;
    fresh.load(&path)?;
    let Layer::LayerNorm { gamma: g2, .. } = &fresh.layers[2].1 else {
        bail!("layer 2 is not the layer norm");
    };
    ensure!(values(g2)? == values(gamma)?, "gamma not restored by load");
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
