//! The EMG hands-on's training flow on synthetic subjects, reduced to run in
//! CI: fine-tuning on a new subject's first session must clearly beat the
//! pre-trained model's zero-shot macro accuracy on the second session, and the
//! int8 TFLite model (batch norm folded, post-training quantized, run by the
//! workbench's TFLite interpreter) must stay within 2 points of the float model.
//!
//! Reduced: TEMPONet on 150-sample windows (stride 150, so fewer windows),
//! three pre-training subjects, a few epochs each.

use workbench::dataset::emg::{synth, PrepareConfig, SynthConfig, WindowConfig};
use workbench::tutorial::emg::{self as t, EmgConfig, TrainConfig};

#[test]
fn fine_tuning_beats_zero_shot_and_int8_stays_close() -> anyhow::Result<()> {
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
    assert!(h.best_epoch >= 1 && h.best_epoch <= h.epochs.len());
    let best = h.epochs[h.best_epoch - 1].val_loss;
    assert!(h.epochs.iter().all(|e| e.val_loss >= best));
    assert!(h
        .epochs
        .iter()
        .all(|e| (0.0..=1.0).contains(&e.macro_accuracy)));
    // The exported flatbuffer loads in the TFLite interpreter crate.
    assert!(run.tflite.len() > 100_000, "{} bytes", run.tflite.len());
    Ok(())
}
