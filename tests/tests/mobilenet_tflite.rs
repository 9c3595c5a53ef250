//! The MobileNet PACT run's int8 `.tflite` (`model_int8.tflite`: batch norms
//! folded, the PACT clips as activation ranges): TFLite's interpreter
//! (ai-edge-litert, reference kernels) gives every output element our
//! interpreter gives on 100 real shapes-synth validation images, and the
//! accuracy `train` reports is TFLite's; classifier biases shifted by 2^20
//! accumulator steps must differ (the comparison can fail). Then the same file on the emulated
//! Cortex-M4 (`device-bridge check --board qemu-mps2-an386 --preload`): 0
//! mismatches against the host, instructions per inference printed; skipped
//! with the reason when QEMU or the firmware is missing (failing under `CI=true`).
//! Data: `$WORKBENCH_DATA/shapes-synth`, else `../shared/data/shapes-synth`.

use anyhow::{ensure, Context, Result};
use workbench::npy::NpyData;
use workbench::tflite::runtime::Kernels;
use workbench::tutorial::mobilenet::{self, MobileNetTrainConfig, TFLITE_FILE};
use workbench_tests::{diff, run_ours, run_tflite, scratch_dir, Array, TfliteKernels};

/// Images per class: 10 classes, 100 validation images.
const PER_CLASS: usize = 10;

#[test]
fn tflite_export_is_bit_exact_with_litert_and_runs_on_the_board() -> Result<()> {
    workbench::threads::configure(&Default::default());
    let data = workbench_tests::data_dir().join("shapes-synth");
    let scratch = scratch_dir("mobilenet-tflite")?;
    let cfg = MobileNetTrainConfig {
        resolution: 64,
        epochs: 4,
        qat_epochs: 1,
        // a short run's fine-tuning moves more than the default's 0.001, so that
        // the images get different outputs
        qat_learning_rate: 0.01,
        limit: Some(PER_CLASS),
        progress: false,
        checkpoint_dir: Some(scratch.clone()),
        ..Default::default()
    };
    let run = mobilenet::train(&data, &cfg)?;
    run.save(&scratch)?;
    let model = scratch.join(TFLITE_FILE);
    let graph = workbench_tflite::import::read_file(&model)?;

    // the export's quantization: the input on PACT's grid, each clip a [0, alpha] range
    let input = &graph.tensors[graph.inputs[0]];
    let q = input.quant.as_ref().context("input not quantized")?;
    ensure!(input.shape == [1, 64, 64, 3], "input {:?}", input.shape);
    ensure!(
        q.scale[0] == run.pact.config.input_eps && q.zero_point[0] == 0,
        "input scale {} zero point {}, want {} and 0",
        q.scale[0],
        q.zero_point[0],
        run.pact.config.input_eps
    );
    let clips = run.pact.clip_values()?;
    let (_, alpha) = clips.iter().find(|(n, _)| n == "conv0_bn").unwrap();
    let t = graph
        .tensors
        .iter()
        .find(|t| t.name == "conv0.out")
        .context("no conv0.out")?;
    let q = t.quant.as_ref().unwrap();
    ensure!(
        (q.scale[0] - alpha / 255.0).abs() <= 1e-6 * alpha && q.zero_point[0] == -128,
        "conv0.out scale {} zero point {}, clip {alpha}",
        q.scale[0],
        q.zero_point[0]
    );

    // 50 validation images, quantized as the model's input
    let imgs = mobilenet::validation_images(&data, &cfg)?;
    let n = imgs.len();
    ensure!(n >= 50, "{n} validation images");
    let x: Vec<i8> = run.int8.quantize_samples(&imgs).concat();
    let batch = Array {
        shape: vec![n, 64, 64, 3],
        values: NpyData::I8(x),
    };
    let x_path = scratch.join("x_int8.npy");
    workbench::npy::write_npy(&x_path, &batch.clone().into())?;
    let theirs = run_tflite(&model, &x_path, TfliteKernels::Reference, &scratch)?;
    let ours = run_ours(&graph, &batch, Kernels::Reference)?;
    if let Some(d) = diff(&theirs, &ours)? {
        anyhow::bail!("TFLite and ours differ on {model:?}: {d}");
    }
    let NpyData::I8(out) = &ours.values else {
        anyhow::bail!("output not int8");
    };
    let classes = out.len() / n;
    ensure!(
        out.chunks(classes).any(|r| r != &out[..classes]),
        "every image gives the same output"
    );
    // the accuracy train reports (our interpreter) is TFLite's
    let hits = out
        .chunks(classes)
        .zip(&imgs.labels)
        .filter(|(r, &l)| {
            (0..classes).fold(0, |b, i| if r[i] > r[b] { i } else { b }) == l as usize
        })
        .count();
    let reported = run
        .metrics
        .tflite_int8_accuracy
        .context("no tflite accuracy")?;
    ensure!(
        (hits as f32 / n as f32 - reported).abs() < 1e-6,
        "TFLite accuracy {hits}/{n}, train reported {reported}"
    );
    eprintln!(
        "{n} images: {} int8 outputs identical in TFLite (reference kernels) and ours; accuracy {reported:.3} \
         (fake-quantized {:.3}, integer {:.3})",
        out.len(),
        run.metrics.fake_quant_accuracy,
        run.metrics.integer_accuracy
    );

    // the classifier's biases 2^20 accumulator steps off: ours must differ from TFLite's
    let mut wrong = graph.clone();
    let bias = wrong
        .tensors
        .iter_mut()
        .find(|t| t.name == "classifier.bias")
        .context("no classifier.bias")?;
    let data = bias.data.as_mut().unwrap();
    for b in data.chunks_mut(4) {
        let v = i32::from_le_bytes(b.try_into().unwrap()).saturating_add(1 << 20);
        b.copy_from_slice(&v.to_le_bytes());
    }
    let off = run_ours(&wrong, &batch, Kernels::Reference)?;
    ensure!(
        diff(&theirs, &off)?.is_some(),
        "a wrong bias went unnoticed"
    );

    board(&model, &x_path)
}

/// `device-bridge check --board qemu-mps2-an386 --preload` on the first images: 0 mismatches.
fn board(model: &std::path::Path, x_path: &std::path::Path) -> Result<()> {
    use device_bridge::boards::{self, OpenOptions, QEMU_BOARD};
    if let Err(why) = boards::qemu_firmware() {
        ensure!(
            std::env::var("CI").is_err(),
            "{QEMU_BOARD} must run under CI: {why}"
        );
        eprintln!("SKIPPED the board check ({QEMU_BOARD}): {why}");
        return Ok(());
    }
    let mut batch = device_bridge::npy::read(x_path)?;
    // four images are enough for the board (an inference takes QEMU a while)
    let per: usize = batch.shape[1..].iter().product();
    batch.shape[0] = 4;
    batch.bytes.truncate(4 * per);
    let bytes = std::fs::read(model)?;
    let opts = OpenOptions {
        preload: Some(model.to_path_buf()),
        ..OpenOptions::default()
    };
    let mut b = boards::open(QEMU_BOARD, &opts)?;
    let r = device_bridge::check::check(&mut b.device, &bytes, &batch)?;
    eprintln!("{QEMU_BOARD}:\n{r}");
    ensure!(
        r.mismatched_values == 0,
        "the board differs from the host on {} values",
        r.mismatched_values
    );
    ensure!(r.mean_count() > 0.0, "no instruction counts");
    Ok(())
}
