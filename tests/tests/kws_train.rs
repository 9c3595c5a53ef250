//! The keyword-spotting lab end to end on the synthetic corpus (`yes`, `no`,
//! silence and unknown, micro front end features): DS-CNN S and `micro_kws_xs`
//! trained for a reduced number of steps, batch norm folded, converted to a
//! float and a full-int8 `.tflite`. The int8 model keeps the float model's test
//! accuracy; TFLite's interpreter (reference kernels, ai-edge-litert) gives the
//! int8 `.tflite` outputs identical to ours (`workbench infer`'s path) and the
//! float `.tflite` the float model's probabilities; the per-layer estimates
//! equal MACs, ROM and RAM computed by hand from the layer shapes.

use anyhow::{ensure, Context, Result};
use workbench::dataset::speech_commands::SpeechCommandsConfig;
use workbench::npy::NpyData;
use workbench::quant::ptq::chw_to_hwc;
use workbench::tflite::runtime::Kernels;
use workbench::tutorial::kws::{self, Frontend, KwsConfig, KwsData, KwsModel, KwsRun};
use workbench_tests::{diff, run_ours, run_tflite, scratch_dir, Array, TfliteKernels};

fn corpus() -> std::path::PathBuf {
    workbench::data_dir::resolve(None).join("kws-synth")
}

/// The lab's settings scaled down, with balanced classes (as many silence and
/// unknown clips as wanted-word clips). DS-CNN S: 150 steps at 0.001, 50 at
/// 0.0001, batches of 32, a validation every 25 steps, batch norm momentum 0.9
/// (Keras' 0.99 keeps the evaluation-mode model at chance for ~600 steps).
/// `micro_kws_xs` (cheap): the lab's batches of 100, 300 + 100 steps.
fn config(model: KwsModel) -> KwsConfig {
    let (schedule, batch_size, eval_every) = match model {
        KwsModel::DsCnnS => (vec![(150, 1e-3), (50, 1e-4)], 32, 25),
        KwsModel::MicroKwsXs => (vec![(300, 1e-3), (100, 1e-4)], 100, 50),
    };
    KwsConfig {
        data: SpeechCommandsConfig {
            silence_percentage: Some(100.0),
            unknown_percentage: Some(100.0),
            ..SpeechCommandsConfig::default()
        },
        frontend: Frontend::Micro,
        model,
        schedule,
        batch_size,
        eval_every,
        batch_norm_momentum: Some(0.9),
        progress: false,
        ..KwsConfig::default()
    }
}

/// The test set as the int8 `.tflite`'s input batch `[N, 49, 40, 1]`.
fn int8_batch(data: &KwsData, run: &KwsRun) -> Array {
    let [c, h, w] = data.shape;
    let x: Vec<i8> = data
        .test
        .images
        .chunks(c * h * w)
        .flat_map(|s| run.int8.quantize_input(s, data.shape))
        .collect();
    Array {
        shape: vec![data.test.len(), h, w, c],
        values: NpyData::I8(x),
    }
}

fn write_npy(path: &std::path::Path, a: &Array) -> Result<()> {
    workbench::npy::write_npy(path, &a.clone().into())?;
    Ok(())
}

/// Trains, checks the float accuracy and that int8 is within `int8_tolerance` of it; returns the data and the run.
fn train_and_check(
    model: KwsModel,
    min_accuracy: f64,
    int8_tolerance: f64,
) -> Result<(KwsData, KwsRun)> {
    // the lab's checkpoints: each new best written, the best read back after training
    let cfg = KwsConfig {
        checkpoint_dir: Some(scratch_dir(&format!("kws-checkpoints-{model:?}"))?),
        ..config(model)
    };
    let t0 = std::time::Instant::now();
    let (data, run) = kws::run(&corpus(), &cfg)?;
    let m = &run.metrics;
    let ckpt = m
        .best_checkpoint
        .as_ref()
        .context("no best checkpoint file")?;
    ensure!(
        ckpt.ends_with(format!("best-step{}.safetensors", m.best_step)),
        "{} is not the best step's ({})",
        ckpt.display(),
        m.best_step
    );
    let reloaded = cfg.build_model(&data)?;
    reloaded.load(ckpt)?;
    let (_, val_accuracy) = workbench::train::evaluate(&reloaded, &data.validation)?;
    ensure!(
        (val_accuracy - m.best_val_accuracy).abs() < 1e-6,
        "the reloaded checkpoint's validation accuracy {val_accuracy} is not the best {}",
        m.best_val_accuracy
    );
    let n_test = data.test.len();
    eprintln!(
        "kws-synth {model:?}: {} steps (best {}, validation {:.4}) in {:.1} s ({:.1} s with data and conversion), \
         clips {:?}: test accuracy float {:.4}, int8 {:.4}; ROM {} B, RAM {} / {} B, {} MACs",
        m.steps,
        m.best_step,
        m.best_val_accuracy,
        m.train_seconds,
        t0.elapsed().as_secs_f64(),
        m.clips,
        m.float_accuracy,
        m.int8_accuracy,
        m.rom_bytes,
        m.ram_bytes_worst,
        m.ram_bytes_best,
        m.macs
    );
    for l in m.per_class_lines() {
        eprintln!("{l}");
    }
    ensure!(
        m.labels == ["_silence_", "_unknown_", "yes", "no"],
        "{:?}",
        m.labels
    );
    ensure!(
        n_test == 18,
        "{n_test} test clips (3 yes, 3 no, 6 silence, 6 unknown)"
    );
    // chance is 0.25
    ensure!(
        m.float_accuracy >= min_accuracy,
        "{model:?}: float test accuracy {} below {min_accuracy}",
        m.float_accuracy
    );
    ensure!(
        (m.int8_accuracy - m.float_accuracy).abs() <= int8_tolerance,
        "{model:?}: int8 {} vs float {}",
        m.int8_accuracy,
        m.float_accuracy
    );
    let cm = &m.int8_confusion;
    ensure!(cm.total() == n_test as u64 && (cm.accuracy() - m.int8_accuracy).abs() < 1e-12);
    Ok((data, run))
}

/// The int8 `.tflite` in TFLite equals ours (both kernel sets) output for output;
/// the float `.tflite` in TFLite matches the float model's probabilities.
fn check_tflite(name: &str, data: &KwsData, run: &KwsRun) -> Result<()> {
    let scratch = scratch_dir("kws-train")?;
    let classes = run.metrics.labels.len();
    let n = data.test.len();

    let int8_path = scratch.join(format!("{name}_int8.tflite"));
    std::fs::write(&int8_path, &run.tflite)?;
    let x = int8_batch(data, run);
    let x_path = scratch.join(format!("{name}_int8_x.npy"));
    write_npy(&x_path, &x)?;
    let theirs = run_tflite(&int8_path, &x_path, TfliteKernels::Reference, &scratch)?;
    let graph = workbench::tflite::read(&run.tflite)?;
    for kernels in [Kernels::Reference, Kernels::Optimized] {
        let ours = run_ours(&graph, &x, kernels)?;
        if let Some(d) = diff(&theirs, &ours)? {
            panic!("{name}: the int8 .tflite differs between TFLite and ours ({kernels:?}): {d}");
        }
    }
    let NpyData::I8(v) = &theirs.values else {
        panic!("TFLite's int8 output is not int8");
    };
    // TFLite's argmax gives the int8 accuracy we reported
    let preds: Vec<usize> = v
        .chunks(classes)
        .map(|r| (0..classes).fold(0, |b, i| if r[i] > r[b] { i } else { b }))
        .collect();
    let truth: Vec<usize> = data.test.labels.iter().map(|&l| l as usize).collect();
    assert_eq!(
        workbench::metrics::accuracy(&preds, &truth),
        run.metrics.int8_accuracy
    );
    eprintln!(
        "{name}: {} int8 outputs ({n} test clips) identical in TFLite (reference kernels) and ours",
        theirs.len()
    );

    // float: NHWC input, softmax output
    let float_path = scratch.join(format!("{name}_float.tflite"));
    std::fs::write(&float_path, &run.float_tflite)?;
    let [c, h, w] = data.shape;
    let xf: Vec<f32> = data
        .test
        .images
        .chunks(c * h * w)
        .flat_map(|s| chw_to_hwc(s, data.shape))
        .collect();
    let xf_path = scratch.join(format!("{name}_float_x.npy"));
    write_npy(
        &xf_path,
        &Array {
            shape: vec![n, h, w, c],
            values: NpyData::F32(xf),
        },
    )?;
    let theirs = run_tflite(&float_path, &xf_path, TfliteKernels::Reference, &scratch)?;
    let NpyData::F32(p_tfl) = &theirs.values else {
        panic!("TFLite's float output is not float32");
    };
    let logits = workbench::train::predict(&run.model, &data.test.images)?.to_vec2::<f32>()?;
    let mut max_diff = 0f32;
    let mut float_preds = Vec::new();
    for (row, theirs) in logits.iter().zip(p_tfl.chunks(classes)) {
        let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f32> = row.iter().map(|&z| (z - m).exp()).collect();
        let s: f32 = e.iter().sum();
        for (a, b) in e.iter().zip(theirs) {
            max_diff = max_diff.max((a / s - b).abs());
        }
        float_preds.push((0..classes).fold(0, |b, i| if theirs[i] > theirs[b] { i } else { b }));
    }
    eprintln!(
        "{name}: float .tflite in TFLite vs our float model: max |probability difference| {max_diff:.2e}"
    );
    ensure!(
        max_diff <= 1e-5,
        "{name}: float .tflite probabilities differ by {max_diff}"
    );
    assert_eq!(
        workbench::metrics::accuracy(&float_preds, &truth),
        run.metrics.float_accuracy
    );
    Ok(())
}

#[test]
fn ds_cnn_s_trains_converts_and_runs_in_tflite() -> Result<()> {
    workbench::threads::configure(&Default::default());
    // chance is 0.25; within one point on 18 clips: the same number of clips right
    let (data, run) = train_and_check(KwsModel::DsCnnS, 0.75, 0.01)?;
    check_tflite("ds_cnn_s", &data, &run)?;

    // estimates against the layer shapes: 49x40 input, conv 64 10x4 stride 2 SAME -> 25x20x64
    let e = &run.estimate;
    let ops: Vec<&str> = e.layers.iter().map(|l| l.op).collect();
    assert_eq!(
        ops,
        [
            "CONV_2D",
            "DEPTHWISE_CONV_2D",
            "CONV_2D",
            "DEPTHWISE_CONV_2D",
            "CONV_2D",
            "DEPTHWISE_CONV_2D",
            "CONV_2D",
            "DEPTHWISE_CONV_2D",
            "CONV_2D",
            "AVERAGE_POOL_2D",
            "RESHAPE",
            "FULLY_CONNECTED",
            "SOFTMAX"
        ]
    );
    let (oh, ow, ch) = (25u64, 20u64, 64u64);
    let conv1 = &e.layers[0];
    assert_eq!(conv1.macs, oh * ow * ch * 10 * 4); // 1,280,000
    assert_eq!(conv1.rom_bytes, 64 * 10 * 4 + 64 * 4); // int8 filters, int32 biases
    assert_eq!(conv1.ram_bytes, 49 * 40 + 25 * 20 * 64); // int8 input + output
    assert_eq!(e.layers[1].macs, oh * ow * ch * 3 * 3); // depthwise: 288,000
    assert_eq!(e.layers[1].rom_bytes, 9 * 64 + 64 * 4);
    assert_eq!(e.layers[2].macs, oh * ow * ch * ch); // pointwise: 2,048,000
    assert_eq!(e.layers[11].macs, 64 * 4); // dense
    assert_eq!(e.macs, oh * ow * ch * (40 + 4 * (9 + 64)) + 64 * 4);
    // two live buffers at most: a 25x20x64 int8 input and output
    assert_eq!(e.ram_bytes_best, 2 * 25 * 20 * 64);
    // every layer's ROM adds up to the model's
    assert_eq!(
        e.layers.iter().map(|l| l.rom_bytes).sum::<usize>(),
        e.rom_bytes
    );
    Ok(())
}

#[test]
fn micro_kws_xs_trains_converts_and_runs_in_tflite() -> Result<()> {
    workbench::threads::configure(&Default::default());
    // the small model overfits the 192 training clips (validation ~0.7): within one clip
    let (data, run) = train_and_check(KwsModel::MicroKwsXs, 0.6, 1.0 / 18.0 + 1e-9)?;
    check_tflite("micro_kws_xs", &data, &run)?;
    let e = &run.estimate;
    // depthwise 5x4, multiplier 4, stride 2 SAME: 25x20x4; dense 2000 -> 4
    assert_eq!(e.layers[0].macs, 25 * 20 * 4 * 5 * 4);
    assert_eq!(e.layers[2].macs, 2000 * 4);
    assert_eq!(e.macs, 40_000 + 8_000);
    Ok(())
}

#[test]
fn batch_norm_momentum_is_applied_and_checked() -> Result<()> {
    workbench::threads::configure(&Default::default());
    let cfg = KwsConfig {
        model: KwsModel::DsCnnS,
        batch_norm_momentum: Some(0.9),
        ..KwsConfig::default()
    };
    let data = KwsData::open(&corpus(), &cfg)?;
    let m = cfg.build_model(&data)?;
    let momenta: Vec<f64> = m
        .layers
        .iter()
        .filter_map(|(_, l)| match l {
            workbench::train::Layer::BatchNorm { config, .. } => Some(config.momentum),
            _ => None,
        })
        .collect();
    assert_eq!(momenta, vec![0.9; 9]);
    // the lab's default stays Keras' 0.99
    let keras = KwsConfig {
        model: KwsModel::DsCnnS,
        ..KwsConfig::default()
    }
    .build_model(&data)?;
    assert!(keras.layers.iter().all(|(_, l)| match l {
        workbench::train::Layer::BatchNorm { config, .. } => config.momentum == 0.99,
        _ => true,
    }));
    let bad = KwsConfig {
        batch_norm_momentum: Some(1.5),
        ..cfg
    };
    let e = bad.build_model(&data).unwrap_err().to_string();
    assert!(e.contains("momentum 1.5"), "{e}");
    // no steps: a clear error, not a panic
    let none = KwsConfig {
        schedule: vec![(0, 1e-3)],
        ..KwsConfig::default()
    };
    let e = kws::train(&none.build_model(&data)?, &data, &none)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("steps (0)") && e.contains("must be positive"),
        "{e}"
    );
    Ok(())
}
