//! The EMG hands-on's deployment part: quantization-aware training of the
//! fine-tuned TEMPONet with PACT, its integerization for the MATCH compiler
//! (exported as ONNX), its TFLite int8 form for the device bridge, and one
//! table of the four accuracies.
//!
//! Which runs where: the MATCH-style integer network (floor rounding, one
//! multiplier per channel and a right shift) is what the hands-on's compiler
//! deploys to its board; the TFLite int8 model (round to nearest,
//! fixed-point multipliers) is what `device-bridge` pushes to a board
//! running TFLite-Micro-compatible kernels. Both come from the same QAT
//! weights and clips.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::emg::erased::Json;
use super::emg::{evaluate, evaluate_int8, train, Evaluation, TrainConfig, CLASSES};
use crate::dataset::emg::Rescaling;
use crate::display::evcxr;
use crate::display::html::{percent, Cell, Table};
use crate::quant::integer::{integerize, IntegerNetwork, DEFAULT_SHIFT};
use crate::quant::qat::QatModel;
use crate::quant::Int8Model;
use crate::train::{Network, Samples, Sequential};
use crate::{Error, Result};

/// Settings of the QAT step.
#[derive(Debug, Clone, PartialEq)]
pub struct QatConfig {
    /// Training (defaults: the hands-on's 300 epochs, patience 50, otherwise its fine-tuning settings).
    pub train: TrainConfig,
    /// Right shift of the integer requantization (`shift_pos`, default 16).
    pub shift: u32,
    /// Windows that initialise the activation clips and the TFLite logits' range (default 300).
    pub calibration: usize,
}

impl Default for QatConfig {
    fn default() -> Self {
        QatConfig {
            train: TrainConfig {
                epochs: 300,
                patience: 50,
                ..TrainConfig::default()
            },
            shift: DEFAULT_SHIFT,
            calibration: 300,
        }
    }
}

/// A form of the EMG model in the accuracy table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Form {
    /// The converted model before QAT (post-training int8), as the MATCH-style integer network.
    #[serde(rename = "PTQ int8 (before QAT)")]
    PtqInt8,
    /// The float network.
    #[serde(rename = "float")]
    Float,
    /// The fake-quantized QAT network.
    #[serde(rename = "QAT")]
    Qat,
    /// The MATCH-style integer network.
    #[serde(rename = "integer (MATCH)")]
    IntegerMatch,
    /// The TFLite int8 model.
    #[serde(rename = "TFLite int8")]
    TfliteInt8,
}

impl Form {
    /// The name in tables: "PTQ int8 (before QAT)", "float", "QAT", "integer (MATCH)", "TFLite int8".
    pub fn name(self) -> &'static str {
        match self {
            Form::PtqInt8 => "PTQ int8 (before QAT)",
            Form::Float => "float",
            Form::Qat => "QAT",
            Form::IntegerMatch => "integer (MATCH)",
            Form::TfliteInt8 => "TFLite int8",
        }
    }
}

impl std::fmt::Display for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// One row of the accuracy table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccuracyRow {
    /// The model form.
    pub form: Form,
    /// Where it runs.
    pub runs_on: &'static str,
    /// Accuracy on the test windows.
    pub accuracy: f64,
    /// Macro accuracy (mean per-class recall) on the test windows.
    pub macro_accuracy: f64,
}

/// Float, PTQ int8 (before QAT), QAT, MATCH-style integer and TFLite int8 accuracies on the same windows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccuracyTable {
    /// The rows, in that order.
    pub rows: Vec<AccuracyRow>,
    /// Windows evaluated.
    pub windows: usize,
}

impl AccuracyTable {
    /// The row of `form`.
    pub fn get(&self, form: Form) -> Option<&AccuracyRow> {
        self.rows.iter().find(|r| r.form == form)
    }

    /// The table as HTML.
    pub fn to_html(&self) -> String {
        let mut t = Table::new()
            .caption(format!("test windows: {}", self.windows))
            .header(["model", "runs on", "accuracy", "macro accuracy"]);
        for r in &self.rows {
            t.row(vec![
                Cell::text(r.form.name()),
                Cell::text(r.runs_on),
                Cell::num(percent(r.accuracy)),
                Cell::num(percent(r.macro_accuracy)),
            ]);
        }
        t.to_html()
    }

    /// Shows the table as HTML in an evcxr notebook.
    pub fn evcxr_display(&self) {
        evcxr::print_html(&self.to_html());
    }
}

impl std::fmt::Display for AccuracyTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{:<18} {:>9} {:>9}  runs on",
            "model", "accuracy", "macro"
        )?;
        for r in &self.rows {
            writeln!(
                f,
                "{:<18} {:>8.2}% {:>8.2}%  {}",
                r.form,
                100.0 * r.accuracy,
                100.0 * r.macro_accuracy,
                r.runs_on
            )?;
        }
        Ok(())
    }
}

/// Everything the QAT step made.
pub struct QatRun {
    /// The QAT model (folded float weights, learned clips).
    pub qat: QatModel,
    /// Its training history.
    pub history: crate::train::History,
    /// The converted model before QAT (fake-quantized with the calibrated clips) on the test windows.
    pub before_qat: Evaluation,
    /// Its MATCH-style integer network before QAT (post-training int8) on the test windows.
    pub before_qat_integer: Evaluation,
    /// The MATCH-style integer network.
    pub integer: IntegerNetwork,
    /// The TFLite int8 model.
    pub int8: Int8Model,
    /// The `.tflite` flatbuffer.
    pub tflite: Vec<u8>,
    /// The accuracies.
    pub table: AccuracyTable,
    /// Largest |accumulator| of the integer network on the test windows.
    pub peak_accumulator: i64,
}

/// Evaluates the integer network on `data`.
pub fn evaluate_integer(net: &IntegerNetwork, data: &Samples) -> Result<(Evaluation, i64)> {
    let (preds, peak) = net.predict(&data.images)?;
    let truth: Vec<usize> = data.labels.iter().map(|&l| l as usize).collect();
    let confusion = crate::metrics::ConfusionMatrix::from_predictions(&preds, &truth, CLASSES)?;
    Ok((
        Evaluation {
            loss: f64::NAN,
            accuracy: confusion.accuracy(),
            macro_accuracy: super::emg::macro_accuracy(&confusion),
            windows: preds.len(),
            confusion,
        },
        peak,
    ))
}

/// QAT from the fine-tuned float `model` on `train_set` / `val`, then the
/// integer and TFLite forms, all evaluated on `test`.
pub fn quantization_aware(
    model: &Sequential,
    train_set: &Samples,
    val: &Samples,
    test: &Samples,
    cfg: &QatConfig,
) -> Result<QatRun> {
    if train_set.is_empty() {
        return Err(Error::Data("emg qat: no training windows".into()));
    }
    let float = evaluate(model, test)?;
    let calib = train_set.take(cfg.calibration.max(1));
    let calib_x = calib.to_tensor()?;
    let qat = QatModel::new(model, &calib_x)?;
    // the converted model before QAT, as the hands-on evaluates it: post-training int8
    let before_qat = evaluate(&qat, test)?;
    let (before_qat_integer, _) = evaluate_integer(&integerize(&qat, cfg.shift)?, test)?;
    if cfg.train.progress {
        println!(
            "converted model before QAT: fake-quantized accuracy {:.2}%, PTQ int8 accuracy {:.2}% (integer network)",
            100.0 * before_qat.accuracy,
            100.0 * before_qat_integer.accuracy
        );
    }
    let history = train(&qat, train_set, val, &cfg.train)?;
    let qat_eval = evaluate(&qat, test)?;
    let integer = integerize(&qat, cfg.shift)?;
    let (int_eval, peak_accumulator) = evaluate_integer(&integer, test)?;
    let int8 = qat.to_tflite(&calib_x)?;
    let tflite_eval = evaluate_int8(&int8, test)?;
    let tflite = crate::tflite::export::write(&int8.graph)?;
    let row = |form, runs_on, e: &Evaluation| AccuracyRow {
        form,
        runs_on,
        accuracy: e.accuracy,
        macro_accuracy: e.macro_accuracy,
    };
    let table = AccuracyTable {
        rows: vec![
            row(
                Form::PtqInt8,
                "MATCH-compiled board (ONNX)",
                &before_qat_integer,
            ),
            row(Form::Float, "host (candle)", &float),
            row(Form::Qat, "host (fake-quantized)", &qat_eval),
            row(Form::IntegerMatch, "MATCH-compiled board (ONNX)", &int_eval),
            row(Form::TfliteInt8, "device bridge (.tflite)", &tflite_eval),
        ],
        windows: test.len(),
    };
    Ok(QatRun {
        qat,
        history,
        before_qat,
        before_qat_integer,
        integer,
        int8,
        tflite,
        table,
        peak_accumulator,
    })
}

impl QatRun {
    /// Writes `model_qat.safetensors`, `model_integer.onnx` (with feature
    /// `onnx`), `model_qat_int8.tflite`, `accuracy.json` and
    /// `rescaling_values.json` (`min`, `max` from `rescaling`, and `clip_val`) into `dir`.
    pub fn save(&self, dir: &Path, rescaling: &Rescaling) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut written = Vec::new();
        let mut put = |name: &str, bytes: &[u8]| -> Result<()> {
            let p = dir.join(name);
            std::fs::write(&p, bytes).map_err(|e| Error::io(&p, e))?;
            written.push(p);
            Ok(())
        };
        let json = |v: &dyn Json| v.json();
        put("model_qat_int8.tflite", &self.tflite)?;
        #[cfg(feature = "onnx")]
        put("model_integer.onnx", &self.integer.to_onnx().to_bytes())?;
        put("accuracy.json", json(&self.table)?.as_bytes())?;
        let rv = Rescaling {
            clip_val: Some(self.qat.input_clip_value()? as f64),
            ..rescaling.clone()
        };
        put("rescaling_values.json", json(&rv)?.as_bytes())?;
        let p = dir.join("model_qat.safetensors");
        self.qat.save_state(&p)?;
        written.push(p);
        Ok(written)
    }
}
