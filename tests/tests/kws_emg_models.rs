//! The keyword-spotting and EMG model builders end to end: trained briefly on
//! random data (batch norm in training mode), batch norm folded, quantized to
//! int8 and exported; the `.tflite` (DEPTHWISE_CONV_2D, AVERAGE_POOL_2D,
//! SAME padding, dilated 1 x k convolutions, folded batch norms) must give the
//! same int8 outputs in TFLite's reference kernels as in both of our kernel sets.

use anyhow::{Context, Result};
use workbench::npy::{NpyArray, NpyData};
use workbench::tflite::Kernels;
use workbench::train::{
    fit, fold_batch_norm, predict, FitConfig, Layer, Length, Samples, Sequential,
};
use workbench_tests::{diff, run_ours, run_tflite, scratch_dir, Array, TfliteKernels};

/// Random samples for `model`: values in ±`scale`, labels cycling through the classes.
fn random_samples(model: &Sequential, n: usize, classes: u32, scale: f32, seed: u64) -> Samples {
    // a 64-bit LCG (Knuth's MMIX constants); the top 24 bits give a uniform value in [0, 1)
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    let per: usize = model.input_shape.iter().product();
    let images = (0..n * per)
        .map(|_| (2.0 * uniform() - 1.0) * scale)
        .collect();
    let labels = (0..n as u32).map(|i| i % classes).collect();
    Samples::new(images, labels, model.input_shape).unwrap()
}

/// Trains `model` briefly, folds, quantizes, exports and compares with TFLite; returns the op names.
fn train_export_compare(
    name: &str,
    model: Sequential,
    classes: u32,
    scale: f32,
    softmax: bool,
) -> Result<workbench::tflite::Graph> {
    let train = random_samples(&model, 48, classes, scale, 1);
    let cfg = FitConfig {
        length: Length::Epochs(2),
        batch_size: 16,
        progress: false,
        ..FitConfig::default()
    };
    fit(&model, &train, None, &cfg)?;
    let folded = fold_batch_norm(&model)?;
    assert!(
        !folded
            .layers
            .iter()
            .any(|(_, l)| matches!(l, Layer::BatchNorm { .. })),
        "{name}: batch norms left after folding"
    );

    // folding keeps the float model (inference mode) within float rounding
    let test = random_samples(&model, 16, classes, scale, 2);
    let a = predict(&model, &test.images)?;
    let b = predict(&folded, &test.images)?;
    let fold_diff = (a - b)?.abs()?.max_all()?.to_scalar::<f32>()?;
    assert!(
        fold_diff < 1e-3,
        "{name}: folded model differs by {fold_diff}"
    );

    let rep = random_samples(&model, 32, classes, scale, 3);
    let mut int8 = workbench::quant::quantize(&folded, &rep)?;
    // the quantization report walks the new layer kinds (dropout is the identity)
    let report = workbench::quant::quant_report(&folded, &int8, &rep.take(8))?;
    assert_eq!(
        report.rows.len(),
        folded.layers.len(),
        "{name}: one row per layer"
    );
    assert!(
        report.rows.iter().all(|r| r.rmse_over_scale.is_finite()),
        "{name}: {:?}",
        report.rows
    );
    if softmax {
        workbench::quant::append_softmax(&mut int8)?;
    }
    let bytes = workbench::tflite::export::write(&int8.graph)?;
    let scratch = scratch_dir(&format!("models-{name}"))?;
    let path = scratch.join(format!("{name}_int8.tflite"));
    std::fs::write(&path, &bytes)?;

    let [c, h, w] = model.input_shape;
    let per = c * h * w;
    let x: Vec<i8> = test
        .images
        .chunks(per)
        .flat_map(|s| int8.quantize_input(s, model.input_shape))
        .collect();
    let shape = vec![test.len(), h, w, c];
    let input = scratch.join("x.npy");
    workbench::npy::write_npy(
        &input,
        &NpyArray {
            shape: shape.clone(),
            data: NpyData::I8(x.clone()),
        },
    )?;
    let theirs = run_tflite(&path, &input, TfliteKernels::Reference, &scratch)
        .with_context(|| format!("{name}: TFLite on our export"))?;
    let graph = workbench::tflite::read(&bytes)?;
    let batch = Array {
        shape,
        values: NpyData::I8(x),
    };
    for kernels in [Kernels::Reference, Kernels::Optimized] {
        let ours = run_ours(&graph, &batch, kernels)?;
        if let Some(d) = diff(&theirs, &ours)? {
            panic!("{name}: ours ({kernels:?}) differs from TFLite's reference kernels: {d}");
        }
    }
    // the outputs are not all one value (a model that always says the same proves little)
    if let NpyData::I8(v) = &theirs.values {
        assert!(v.iter().any(|&q| q != v[0]), "{name}: constant output");
    }
    eprintln!(
        "{name}: {} int8 outputs identical in TFLite (reference) and ours; fold diff {fold_diff:.2e}",
        theirs.len()
    );
    Ok(graph)
}

fn op_names(g: &workbench::tflite::Graph) -> Vec<String> {
    g.nodes.iter().map(|n| n.op.name().to_string()).collect()
}

#[test]
fn ds_cnn_s_int8_export_is_identical_in_tflite() -> Result<()> {
    workbench::threads::configure(&Default::default());
    let model = workbench::models::ds_cnn_s(49, 10, 12, 0)?;
    let ops = op_names(&train_export_compare("ds_cnn_s", model, 12, 3.0, false)?);
    assert_eq!(
        ops.iter().filter(|o| *o == "DEPTHWISE_CONV_2D").count(),
        4,
        "{ops:?}"
    );
    assert!(ops.contains(&"AVERAGE_POOL_2D".to_string()), "{ops:?}");
    Ok(())
}

/// The lab's model with its softmax, checked against TFLite and against the
/// converter-made `tests/refs/micro_kws_xs.tflite` (same ops, options, tensor
/// shapes and quantization axes; only the numbers differ).
#[test]
fn micro_kws_xs_int8_export_is_identical_in_tflite_and_laid_out_like_the_converter() -> Result<()> {
    workbench::threads::configure(&Default::default());
    let model = workbench::models::micro_kws_xs(49, 40, 4, 0)?;
    let ours = train_export_compare("micro_kws_xs", model, 4, 10.0, true)?;
    let f = workbench_tests::fixture("micro_kws_xs")?;
    let theirs = workbench_tflite::read_file(&f.model)?;
    assert_eq!(op_names(&ours), op_names(&theirs));
    let layout = |g: &workbench::tflite::Graph| -> Vec<String> {
        g.nodes
            .iter()
            .map(|n| {
                let tensors: Vec<String> = n
                    .inputs
                    .iter()
                    .flatten()
                    .chain(&n.outputs)
                    .map(|&t| {
                        let t = &g.tensors[t];
                        let q = t.quant.as_ref().map(|q| (q.scale.len(), q.axis));
                        format!("{:?} {:?} {q:?}", t.dtype, t.shape)
                    })
                    .collect();
                format!("{:?}: {}", n.op, tensors.join(", "))
            })
            .collect()
    };
    assert_eq!(layout(&ours), layout(&theirs));
    Ok(())
}

#[test]
fn temponet_int8_export_is_identical_in_tflite() -> Result<()> {
    workbench::threads::configure(&Default::default());
    // a shorter window keeps the test quick: 8 channels x 160 samples
    let model = workbench::models::temponet(8, 160, 9, 0)?;
    let ops = op_names(&train_export_compare("temponet", model, 9, 1.0, false)?);
    assert_eq!(ops.iter().filter(|o| *o == "CONV_2D").count(), 9, "{ops:?}");
    Ok(())
}
