//! The keyword-spotting lab end to end on the synthetic corpus: DS-CNN S on
//! micro front end features of `yes`, `no`, silence and unknown, trained for a
//! reduced number of steps, batch norm folded, converted to full int8; the
//! int8 model must keep the float model's test accuracy, and its `.tflite`
//! must give the same int8 outputs in TFLite's reference kernels as ours.

use anyhow::Result;
use workbench::dataset::speech_commands::SpeechCommandsConfig;
use workbench::npy::{NpyArray, NpyData};
use workbench::tflite::Kernels;
use workbench::tutorial::kws::{self, Frontend, KwsConfig, KwsModel};
use workbench_tests::{diff, run_ours, run_tflite, scratch_dir, Array, TfliteKernels};

fn corpus() -> std::path::PathBuf {
    workbench::data_dir::resolve(None).join("kws-synth")
}

#[test]
fn ds_cnn_s_trains_on_kws_synth_and_int8_matches_float_and_tflite() -> Result<()> {
    let cfg = KwsConfig {
        data: SpeechCommandsConfig {
            // balanced classes give a test set of 4 x 6 clips
            silence_percentage: Some(100.0),
            unknown_percentage: Some(100.0),
            ..SpeechCommandsConfig::default()
        },
        frontend: Frontend::Micro,
        model: KwsModel::DsCnnS,
        // the lab's two stages, scaled down
        schedule: vec![(60, 2e-3), (20, 5e-4)],
        batch_size: 32,
        eval_every: 20,
        progress: false,
        ..KwsConfig::default()
    };
    let (data, run) = kws::run(&corpus(), &cfg)?;
    let m = &run.metrics;
    let classes = m.labels.len();
    assert_eq!(classes, 4, "{:?}", m.labels);
    let n_test = data.test.len();
    eprintln!(
        "kws-synth DS-CNN S, {} steps (best {}), clips {:?}: test accuracy float {:.4}, int8 {:.4}; \
         ROM {} B, RAM {} B, {} MACs",
        m.steps, m.best_step, m.clips, m.float_accuracy, m.int8_accuracy, m.rom_bytes,
        m.ram_bytes_worst, m.macs
    );
    for l in m.per_class_lines() {
        eprintln!("{l}");
    }
    let chance = 1.0 / classes as f64;
    assert!(
        m.float_accuracy >= chance + 0.35,
        "float accuracy {} is near chance ({chance})",
        m.float_accuracy
    );
    // one test clip is 1 / n_test of accuracy; int8 may differ by at most one clip
    let one = 1.0 / n_test as f64;
    assert!(
        (m.int8_accuracy - m.float_accuracy).abs() <= one + 1e-9,
        "int8 {} vs float {} on {n_test} clips",
        m.int8_accuracy,
        m.float_accuracy
    );
    // the per-clip predictions agree on validation and test together
    let mut agree = 0;
    let mut total = 0;
    for set in [&data.validation, &data.test] {
        let f = kws::predict_float(&run.model, set)?;
        let q = kws::predict_int8(&run.int8, set)?;
        agree += f.iter().zip(&q).filter(|(a, b)| a == b).count();
        total += f.len();
    }
    eprintln!("float and int8 agree on {agree}/{total} validation and test clips");
    assert!(agree * 100 >= total * 90, "{agree}/{total}");

    // the int8 .tflite in TFLite's interpreter (reference kernels) against ours
    let scratch = scratch_dir("kws-train")?;
    let path = scratch.join("kws_ds_cnn_s_int8.tflite");
    std::fs::write(&path, &run.tflite)?;
    let [c, h, w] = data.shape;
    let x: Vec<i8> = data
        .test
        .images
        .chunks(c * h * w)
        .flat_map(|s| run.int8.quantize_input(s, data.shape))
        .collect();
    let shape = vec![n_test, h, w, c];
    let input = scratch.join("x.npy");
    workbench::npy::write_npy(
        &input,
        &NpyArray {
            shape: shape.clone(),
            data: NpyData::I8(x.clone()),
        },
    )?;
    let theirs = run_tflite(&path, &input, TfliteKernels::Reference, &scratch)?;
    let graph = workbench::tflite::read(&run.tflite)?;
    let ours = run_ours(
        &graph,
        &Array {
            shape,
            values: NpyData::I8(x),
        },
        Kernels::Reference,
    )?;
    if let Some(d) = diff(&theirs, &ours)? {
        panic!("the int8 .tflite differs between TFLite and ours: {d}");
    }
    // TFLite's argmax gives the int8 accuracy we reported
    let NpyData::I8(v) = &theirs.values else {
        panic!("TFLite output is not int8");
    };
    let preds: Vec<usize> = v
        .chunks(classes)
        .map(|r| (0..classes).fold(0, |b, i| if r[i] > r[b] { i } else { b }))
        .collect();
    let truth: Vec<usize> = data.test.labels.iter().map(|&l| l as usize).collect();
    let tfl_acc = workbench::metrics::accuracy(&preds, &truth);
    assert_eq!(tfl_acc, m.int8_accuracy);
    eprintln!(
        "{} int8 outputs identical in TFLite (reference kernels) and ours",
        theirs.len()
    );
    Ok(())
}
