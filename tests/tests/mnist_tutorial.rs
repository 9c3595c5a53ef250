//! The MNIST tutorial's acceptance: full MNIST, 5 epochs, float test accuracy
//! at least 97.5% and int8 within 0.5 points of it; the exported `.tflite`
//! runs in the real TFLite interpreter with outputs identical to ours.

use workbench::npy::{NpyArray, NpyData};
use workbench::tflite::Kernels;
use workbench::tutorial::mnist::{self, MnistConfig};
use workbench_tests::{data_dir, diff, run_ours, run_tflite, scratch_dir, Array, TfliteKernels};

#[test]
fn full_mnist_five_epochs_then_int8_identical_in_tflite() {
    workbench::threads::configure(&Default::default());
    let dir = data_dir().join("mnist");
    let data = workbench::dataset::mnist::load_dir(&dir)
        .unwrap_or_else(|e| panic!("the full MNIST is needed in {}: {e}", dir.display()));
    assert_eq!(data.train_labels.len(), 60_000);
    let cfg = MnistConfig {
        progress: false,
        ..MnistConfig::default()
    };
    let run = mnist::run(&data, "test", &cfg).unwrap();
    let m = &run.metrics;
    eprintln!(
        "full MNIST, 5 epochs: float {:.4}, int8 {:.4}, {:.0} training samples/s",
        m.float_accuracy, m.int8_accuracy, m.train_samples_per_s
    );
    assert!(
        m.float_accuracy >= 0.975,
        "float accuracy {}",
        m.float_accuracy
    );
    assert!(
        m.float_accuracy - m.int8_accuracy <= 0.005,
        "int8 {} is more than 0.5 points below float {}",
        m.int8_accuracy,
        m.float_accuracy
    );

    // The exported model, on 1,000 test images, in TFLite's reference kernels and in ours.
    let scratch = scratch_dir("mnist_tutorial").unwrap();
    let model = scratch.join("model_int8.tflite");
    std::fs::write(&model, &run.tflite).unwrap();
    let n = 1000;
    let x: Vec<i8> = data.test_images[..n * 784]
        .iter()
        .map(|&p| (i32::from(p) - 128) as i8)
        .collect();
    let input = scratch.join("x.npy");
    workbench::npy::write_npy(
        &input,
        &NpyArray {
            shape: vec![n, 28, 28, 1],
            data: NpyData::I8(x.clone()),
        },
    )
    .unwrap();
    let theirs = run_tflite(&model, &input, TfliteKernels::Reference, &scratch).unwrap();
    let graph = workbench::tflite::read(&run.tflite).unwrap();
    let batch = Array::from(NpyArray {
        shape: vec![n, 28, 28, 1],
        data: NpyData::I8(x),
    });
    let ours = run_ours(&graph, &batch, Kernels::Optimized).unwrap();
    if let Some(d) = diff(&theirs, &ours).unwrap() {
        panic!("exported MNIST model differs from TFLite's reference kernels: {d:?}");
    }
}
