//! Dynamic-range ("hybrid") models against TensorFlow and TFLite.
//!
//! Fixtures (`tests/refs/keras3/dynamic_range.py`): `ds_cnn_f32` / `ds_cnn_dynamic` and
//! `mnist_f32` / `mnist_dynamic` / `mnist_dynamic_per_tensor`, converted by TF 2.21 from one
//! Keras model each, plain float32 and with `Optimize.DEFAULT` and no representative data;
//! the `.expected.npy` outputs come from TFLite's `BUILTIN_REF` kernels.
//! - `workbench::quant::dynamic_range` of the float model gives TF's int8 weights, scales
//!   and options exactly;
//! - our interpreter on TF's dynamic models, and on ours, gives TFLite's outputs exactly
//!   (the largest difference is printed);
//! - TFLite runs our exported conversion as it runs TF's file.

use std::path::PathBuf;

use anyhow::{bail, ensure, Context, Result};
use workbench::npy::NpyData;
use workbench::quant::dynamic_range;
use workbench_tests::{python, refs_dir, run_ours, run_tflite, scratch_dir, Array, TfliteKernels};
use workbench_tflite::runtime::Kernels;
use workbench_tflite::{DType, Graph, Op};

const PAIRS: [(&str, &str); 2] = [
    ("ds_cnn_f32", "ds_cnn_dynamic"),
    ("mnist_f32", "mnist_dynamic"),
];

/// TF's dynamic-range models: the pairs' and one with per-tensor weight scales.
const DYNAMIC: [&str; 3] = [
    "ds_cnn_dynamic",
    "mnist_dynamic",
    "mnist_dynamic_per_tensor",
];

fn path(name: &str, ext: &str) -> PathBuf {
    refs_dir().join("keras3").join(format!("{name}.{ext}"))
}

fn read(name: &str) -> Result<Graph> {
    let p = path(name, "tflite");
    workbench_tflite::read_file(&p).with_context(|| format!("importing {}", p.display()))
}

fn floats(a: &Array) -> Result<&[f32]> {
    match &a.values {
        NpyData::F32(v) => Ok(v),
        _ => bail!("expected float32 values, got {}", a.dtype_name()),
    }
}

/// Largest absolute difference and the output range of `want`.
fn max_diff(want: &Array, got: &Array) -> Result<(f32, f32)> {
    let (w, g) = (floats(want)?, floats(got)?);
    ensure!(w.len() == g.len(), "{} values vs {}", g.len(), w.len());
    let lo = w.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = w.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let d = w
        .iter()
        .zip(g)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    Ok((d, hi - lo))
}

/// Our outputs for `graph` on the fixture batch of `name`, both kernel sets, vs `name`'s expected.
fn check_ours(label: &str, graph: &Graph, name: &str) -> Result<()> {
    let batch = Array::read_npy(&path(name, "input.npy"))?;
    let want = Array::read_npy(&path(name, "expected.npy"))?;
    for kernels in [Kernels::Reference, Kernels::Optimized] {
        let got = run_ours(graph, &batch, kernels)?;
        let (d, range) = max_diff(&want, &got)?;
        eprintln!(
            "{label} ({kernels:?}) vs TFLite {name}: largest difference {d:e} (output range {range})"
        );
        // Bit-exact: the hybrid kernels follow TFLite's order of float operations.
        ensure!(
            d == 0.0,
            "{label} ({kernels:?}): largest difference {d} (output range {range}), expected none"
        );
    }
    Ok(())
}

/// Every weight of our conversion equals TF's: int8 values, scales (bit for bit), zero points, axis.
fn compare_weights(ours: &Graph, tf: &Graph, name: &str) -> Result<(usize, usize)> {
    ensure!(
        ours.nodes.len() == tf.nodes.len(),
        "{name}: {} ops vs TF's {}",
        ours.nodes.len(),
        tf.nodes.len()
    );
    let (mut tensors, mut values) = (0, 0);
    for (i, (a, b)) in ours.nodes.iter().zip(&tf.nodes).enumerate() {
        ensure!(
            a.op.name() == b.op.name(),
            "{name} op {i}: {} vs TF's {}",
            a.op.name(),
            b.op.name()
        );
        if let (
            Op::FullyConnected {
                asymmetric_quantize_inputs: x,
                ..
            },
            Op::FullyConnected {
                asymmetric_quantize_inputs: y,
                ..
            },
        ) = (&a.op, &b.op)
        {
            ensure!(
                x == y,
                "{name} op {i}: asymmetric_quantize_inputs {x} vs TF's {y}"
            );
        }
        let (Some(Some(wa)), Some(Some(wb))) = (a.inputs.get(1), b.inputs.get(1)) else {
            continue;
        };
        let (ta, tb) = (&ours.tensors[*wa], &tf.tensors[*wb]);
        if tb.data.is_none() {
            continue;
        }
        ensure!(
            ta.dtype == tb.dtype,
            "{name} op {i} ({}): weights {:?} vs TF's {:?}",
            a.op.name(),
            ta.dtype,
            tb.dtype
        );
        if tb.dtype != DType::I8 {
            continue;
        }
        let (qa, qb) = (ta.quant.as_ref(), tb.quant.as_ref());
        let (Some(qa), Some(qb)) = (qa, qb) else {
            bail!("{name} op {i}: weights without quantization");
        };
        ensure!(
            qa.axis == qb.axis && qa.zero_point == qb.zero_point,
            "{name} op {i}: axis {} zero points {:?} vs TF's axis {} {:?}",
            qa.axis,
            qa.zero_point,
            qb.axis,
            qb.zero_point
        );
        let bits = |s: &[f32]| s.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        if bits(&qa.scale) != bits(&qb.scale) {
            let worst = qa
                .scale
                .iter()
                .zip(&qb.scale)
                .map(|(x, y)| ((x - y) / y).abs())
                .fold(0.0f32, f32::max);
            bail!("{name} op {i}: scales differ from TF's (largest relative difference {worst:e})");
        }
        let (da, db) = (ta.data.as_deref(), tb.data.as_deref());
        let differing = da
            .unwrap_or_default()
            .iter()
            .zip(db.unwrap_or_default())
            .filter(|(x, y)| x != y)
            .count();
        ensure!(
            da.map(<[u8]>::len) == db.map(<[u8]>::len) && differing == 0,
            "{name} op {i}: {differing} int8 weights differ from TF's"
        );
        tensors += 1;
        values += db.map_or(0, <[u8]>::len);
    }
    Ok((tensors, values))
}

#[test]
fn our_dynamic_range_gives_tfs_weights() -> Result<()> {
    for (f32_name, dynamic_name) in PAIRS {
        let ours = dynamic_range(&read(f32_name)?)?;
        let (tensors, values) = compare_weights(&ours, &read(dynamic_name)?, dynamic_name)?;
        eprintln!(
            "{dynamic_name}: {tensors} int8 weight tensors, {values} values, all equal to TF's"
        );
        ensure!(tensors > 0, "{dynamic_name}: no int8 weights compared");
    }
    Ok(())
}

#[test]
fn ours_on_tfs_dynamic_models_matches_tflite() -> Result<()> {
    for name in DYNAMIC {
        check_ours("ours on TF's model", &read(name)?, name)?;
    }
    Ok(())
}

#[test]
fn our_conversion_runs_like_tfs() -> Result<()> {
    python()?; // fails, with what to do, when the reference venv is missing
    let scratch = scratch_dir("dynamic-range")?;
    for (f32_name, name) in PAIRS {
        let ours = dynamic_range(&read(f32_name)?)?;
        check_ours("ours on our conversion", &ours, name)?;
        // Export round trip, and TFLite on our file.
        let bytes = workbench_tflite::export::write(&ours)?;
        let back = workbench_tflite::read(&bytes)?;
        ensure!(
            back.tensors == ours.tensors && back.nodes == ours.nodes,
            "{name}: import -> export -> import changes the graph"
        );
        let file: PathBuf = scratch.join(format!("{name}.ours.tflite"));
        std::fs::write(&file, &bytes)?;
        let tflite = run_tflite(
            &file,
            &path(name, "input.npy"),
            TfliteKernels::Reference,
            &scratch,
        )?;
        let want = Array::read_npy(&path(name, "expected.npy"))?;
        let (d, range) = max_diff(&want, &tflite)?;
        eprintln!(
            "TFLite on our exported {name} vs on TF's: largest difference {d:e} (range {range})"
        );
        ensure!(
            d == 0.0,
            "{name}: TFLite on our export differs from TF's file by {d}"
        );
    }
    std::fs::remove_dir_all(&scratch).ok();
    Ok(())
}

#[test]
fn tfs_dynamic_models_round_trip() -> Result<()> {
    for name in DYNAMIC {
        let g = read(name)?;
        let back = workbench_tflite::read(&workbench_tflite::export::write(&g)?)?;
        ensure!(
            back.tensors == g.tensors && back.nodes == g.nodes,
            "{name}: import -> export -> import changes the graph"
        );
    }
    Ok(())
}
