//! The EMG hands-on's training flow on synthetic subjects, reduced to run in
//! CI: fine-tuning on a new subject's first session must clearly beat the
//! pre-trained model's zero-shot macro accuracy on the second session, and the
//! int8 TFLite model (batch norm folded, post-training quantized, run by the
//! workbench's TFLite interpreter) must stay within 2 points of the float model.
//!
//! Then QAT with PACT: the MATCH-style integer network must stay within a
//! point of the float model, its ONNX file must pass onnx's full checker and
//! give, in ONNX Runtime, exactly our integer accumulators; the TFLite int8
//! form of the QAT model must run identically in TFLite's interpreter.
//!
//! Reduced: TEMPONet on 150-sample windows (stride 150, so fewer windows),
//! three pre-training subjects, a few epochs each.

use std::process::Command;

use anyhow::{bail, Context};
use workbench::npy::{write_npy, NpyArray, NpyData};
use workbench::quant::integer::DEFAULT_SHIFT;
use workbench::tutorial::emg_qat::{quantization_aware, Form, QatConfig};
use workbench_tests::{
    diff, python, refs_dir, run_ours, run_tflite, scratch_dir, Array, TfliteKernels,
};

use workbench::dataset::emg::{synth, PrepareConfig, SynthConfig, WindowConfig};
use workbench::tutorial::emg::{self as t, EmgConfig, TrainConfig};

#[test]
fn fine_tuning_beats_zero_shot_and_int8_stays_close() -> anyhow::Result<()> {
    workbench::threads::configure(&Default::default());
    let synth_cfg = SynthConfig::default();
    // The new subject: not among the pre-training ids.
    let s1 = synth::session(&synth_cfg, 7, 1);
    let s2 = synth::session(&synth_cfg, 7, 2);
    let quick = |epochs: usize, lr: f64| TrainConfig {
        epochs,
        learning_rate: lr,
        patience: 50,
        progress: true,
        ..TrainConfig::default()
    };
    let cfg = EmgConfig {
        pretrain: quick(4, 1e-3),
        finetune: quick(6, 1e-3),
        synth: synth_cfg,
        pretrain_subjects: 100..103,
        prepare: PrepareConfig {
            window: WindowConfig {
                size: 150,
                stride: 150,
                gesture_margin: 750,
            },
            ..PrepareConfig::default()
        },
        representative: 200,
        seed: 0,
    };
    let run = t::run(&s1, &s2, &cfg)?;
    let m = &run.metrics;
    eprintln!(
        "windows {:?} {:?}; zero-shot {:.4} / {:.4}, fine-tuned {:.4} / {:.4}, int8 {:.4} / {:.4} (accuracy / macro)",
        m.pretrain_windows,
        m.subject_windows,
        m.zero_shot.accuracy,
        m.zero_shot.macro_accuracy,
        m.fine_tuned.accuracy,
        m.fine_tuned.macro_accuracy,
        m.int8.accuracy,
        m.int8.macro_accuracy
    );
    assert_eq!(m.zero_shot.windows, m.subject_windows.2);
    assert!(
        m.fine_tuned.macro_accuracy >= m.zero_shot.macro_accuracy + 0.10,
        "fine-tuned macro accuracy {:.4} does not clearly beat zero-shot {:.4}",
        m.fine_tuned.macro_accuracy,
        m.zero_shot.macro_accuracy
    );
    assert!(
        (m.int8.accuracy - m.fine_tuned.accuracy).abs() <= 0.02,
        "int8 accuracy {:.4} vs float {:.4}",
        m.int8.accuracy,
        m.fine_tuned.accuracy
    );
    // The history has the hands-on's three metrics and kept the best epoch.
    let h = &run.finetune_history;
    let best = h.best_record().expect("a best epoch").val_loss;
    assert!(h.records.iter().all(|e| e.val_loss >= best));
    assert!(h
        .records
        .iter()
        .all(|e| (0.0..=1.0).contains(&e.macro_accuracy)));
    // The exported flatbuffer loads in the TFLite interpreter crate.
    assert!(run.tflite.len() > 100_000, "{} bytes", run.tflite.len());

    // QAT, integerization, the two integer forms.
    let p = workbench::dataset::emg::prepare(&s1, &s2, &cfg.prepare)?;
    let (tr, va, te) = (
        t::samples(&p.train)?,
        t::samples(&p.val)?,
        t::samples(&p.test)?,
    );
    let qcfg = QatConfig {
        train: quick(4, 1e-4),
        ..QatConfig::default()
    };
    let q = quantization_aware(&run.model, &tr, &va, &te, &qcfg)?;
    eprintln!("{}", q.table);
    let acc = |form: Form| q.table.get(form).expect("every form has a row").accuracy;
    let clip = q.qat.input_clip_value()?;
    eprintln!(
        "clip_val {clip:.4}, activation clips {:?}, peak |accumulator| {}",
        q.qat.clip_values()?,
        q.peak_accumulator
    );
    assert_eq!(q.integer.shift, DEFAULT_SHIFT);
    // QAT trains on, so the integer model may beat the float one; it must not lose more than a point
    // to it, and it must be its own QAT model to within a point (floor vs fake-quantized rounding).
    assert!(
        acc(Form::IntegerMatch) >= acc(Form::Float) - 0.01,
        "integer {:.4} vs float {:.4}",
        acc(Form::IntegerMatch),
        acc(Form::Float)
    );
    assert!(
        (acc(Form::IntegerMatch) - acc(Form::Qat)).abs() <= 0.01,
        "integer {:.4} vs QAT {:.4}",
        acc(Form::IntegerMatch),
        acc(Form::Qat)
    );
    assert!(clip > 0.0 && clip.is_finite());
    // the converted model before QAT (post-training int8) is evaluated and in the table
    assert_eq!(acc(Form::PtqInt8), q.before_qat_integer.accuracy);
    assert!((0.0..=1.0).contains(&q.before_qat.accuracy));
    assert_eq!(q.before_qat.windows, te.len());

    let scratch = scratch_dir("emg-qat")?;
    let files = q.save(&scratch, &p.rescaling)?;
    let rv: serde_json::Value =
        serde_json::from_slice(&std::fs::read(scratch.join("rescaling_values.json"))?)?;
    assert_eq!(rv["min"].as_array().map(|a| a.len()), Some(8));
    assert_eq!(rv["clip_val"].as_f64().map(|v| v as f32), Some(clip));
    eprintln!("wrote {files:?}");

    // ONNX Runtime on the integer network's file: exactly our accumulators.
    let per = te.images.len() / te.len();
    let n = te.len().min(200);
    let x_int: Vec<u8> = te.images[..n * per]
        .chunks(per)
        .flat_map(|s| q.integer.quantize_input(s))
        .collect();
    let [c, h, w] = te.shape;
    let x_path = scratch.join("x_int.npy");
    write_npy(
        &x_path,
        &NpyArray {
            shape: vec![n, c, h, w],
            data: NpyData::F32(x_int.iter().map(|&v| v as f32).collect()),
        },
    )?;
    let y_path = scratch.join("onnx_out.npy");
    let out = Command::new(python()?)
        .arg(refs_dir().join("run_onnx.py"))
        .arg(scratch.join("model_integer.onnx"))
        .arg(&x_path)
        .arg(&y_path)
        .output()
        .context("starting the reference python")?;
    if !out.status.success() {
        bail!("run_onnx.py: {}", String::from_utf8_lossy(&out.stderr));
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(meta["shift_pos"], "16");
    let theirs = Array::from(workbench::npy::read_npy(&y_path)?);
    let NpyData::F32(theirs) = theirs.values else {
        bail!("onnx output is not float32");
    };
    let mut ours = Vec::new();
    let mut peak = 0;
    for s in x_int.chunks(per) {
        let (acc, p) = q.integer.run(s)?;
        peak = p.max(peak);
        ours.extend(acc);
    }
    assert!(peak < 1 << 24, "accumulators {peak} not exact in float32");
    assert_eq!(theirs.len(), ours.len());
    let mismatches = theirs
        .iter()
        .zip(&ours)
        .filter(|(&a, &b)| a != b as f32)
        .count();
    assert_eq!(
        mismatches, 0,
        "ONNX Runtime differs on {mismatches} accumulators"
    );
    assert!(ours.iter().any(|&v| v != ours[0]), "constant output");
    eprintln!(
        "{} integer accumulators identical in ONNX Runtime and ours",
        ours.len()
    );

    // The QAT model's TFLite int8 form in TFLite's reference kernels: identical to ours.
    let tfl = scratch.join("model_qat_int8.tflite");
    let xq: Vec<i8> = te.images[..n * per]
        .chunks(per)
        .flat_map(|s| q.int8.quantize_input(s, te.shape))
        .collect();
    let shape = vec![n, h, w, c];
    let xq_path = scratch.join("x_int8.npy");
    write_npy(
        &xq_path,
        &NpyArray {
            shape: shape.clone(),
            data: NpyData::I8(xq.clone()),
        },
    )?;
    let theirs = run_tflite(&tfl, &xq_path, TfliteKernels::Reference, &scratch)?;
    let graph = workbench::tflite::read(&std::fs::read(&tfl)?)?;
    let batch = Array {
        shape,
        values: NpyData::I8(xq),
    };
    let ours = run_ours(&graph, &batch, workbench::tflite::Kernels::Reference)?;
    if let Some(d) = diff(&theirs, &ours)? {
        panic!("QAT int8 model: ours differs from TFLite: {d}");
    }
    Ok(())
}
