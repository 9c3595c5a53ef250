//! The MobileNet PACT integer network as DORY-style ONNX: onnx's full checker
//! passes the file and ONNX Runtime gives exactly our integers, the output
//! accumulators and every requantized layer's activations, on real
//! shapes-synth images; the per-layer feature dump equals ONNX Runtime's
//! intermediate tensors for its image. A network with one additive term off
//! by one step must differ in ONNX Runtime (the comparison can fail).
//! Data: `$WORKBENCH_DATA/shapes-synth`, else `../shared/data/shapes-synth`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use workbench::npy::{read_npy, write_npy, NpyArray, NpyData};
use workbench::quant::f2t::PactIntegerNetwork;
use workbench::quant::features::read_features;
use workbench::tutorial::mobilenet::{self, MobileNetTrainConfig};
use workbench_tests::{python, refs_dir, scratch_dir};

fn shapes() -> PathBuf {
    workbench_tests::data_dir().join("shapes-synth")
}

/// Named int64 tensors, in the order asked for.
type Tensors = Vec<(String, Vec<i64>)>;

/// ONNX Runtime's output accumulators and requantized layer outputs (int64, per name) for batch `x`.
fn run_onnx(
    net: &PactIntegerNetwork,
    x: &Path,
    scratch: &Path,
    tag: &str,
) -> Result<(serde_json::Value, Tensors)> {
    let model = scratch.join(format!("{tag}.onnx"));
    std::fs::write(&model, net.to_onnx()?.to_bytes())?;
    let out_dir = scratch.join(format!("{tag}-out"));
    let mut names = vec!["output_acc".to_string()];
    names.extend(net.onnx_layer_outputs());
    let out = Command::new(python()?)
        .arg(refs_dir().join("run_onnx_layers.py"))
        .arg(&model)
        .arg(x)
        .arg(&out_dir)
        .args(&names[1..])
        .output()
        .context("starting the reference python")?;
    if !out.status.success() {
        bail!(
            "run_onnx_layers.py: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let meta = serde_json::from_slice(&out.stdout)?;
    let mut tensors = Vec::new();
    for n in names {
        let a = read_npy(out_dir.join(format!("{n}.npy")))?;
        let NpyData::I64(v) = a.data else {
            bail!("{n}: not int64");
        };
        tensors.push((n, v));
    }
    Ok((meta, tensors))
}

/// Ours, batched like ONNX Runtime's tensors: the output, then each requantized layer.
fn ours(net: &PactIntegerNetwork, x_int: &[i32]) -> Result<Vec<Vec<i64>>> {
    let per: usize = net.input_shape.iter().product();
    let k = net.onnx_layer_outputs().len();
    let mut all = vec![Vec::new(); k + 1];
    for s in x_int.chunks(per) {
        let outs = net.run_layers(s)?;
        all[0].extend(outs.last().unwrap().iter().map(|&v| v as i64));
        let requantized = net
            .layers
            .iter()
            .zip(&outs)
            .filter(|(l, _)| l.requant.is_some());
        for (j, (_, o)) in requantized.enumerate() {
            all[j + 1].extend(o.iter().map(|&v| v as i64));
        }
    }
    Ok(all)
}

#[test]
fn onnx_runtime_gives_our_integers_and_the_feature_dump() -> Result<()> {
    workbench::threads::configure(&Default::default());
    let cfg = MobileNetTrainConfig {
        resolution: 64,
        epochs: 2,
        qat_epochs: 1,
        limit: Some(10),
        progress: false,
        ..Default::default()
    };
    let run = mobilenet::train(&shapes(), &cfg)?;
    let scratch = scratch_dir("mobilenet-onnx")?;
    run.save(&scratch)?;
    let net = &run.integer;
    let imgs = mobilenet::validation_images(&shapes(), &cfg)?;
    let n = imgs.len();
    let x_int: Vec<i32> = imgs
        .images
        .chunks(imgs.images.len() / n)
        .flat_map(|s| net.quantize_input(s))
        .collect();
    let [c, h, w] = net.input_shape;
    let x_path = scratch.join("x_int.npy");
    write_npy(
        &x_path,
        &NpyArray {
            shape: vec![n, c, h, w],
            data: NpyData::F32(x_int.iter().map(|&v| v as f32).collect()),
        },
    )?;
    let (meta, theirs) = run_onnx(net, &x_path, &scratch, "model_integer")?;
    assert_eq!(meta["D"], "16777216");
    assert_eq!(
        meta["layer_outputs"].as_str().unwrap().split(',').count(),
        27
    );
    let ours = ours(net, &x_int)?;
    assert_eq!(theirs.len(), ours.len());
    for ((name, t), o) in theirs.iter().zip(&ours) {
        assert_eq!(t.len(), o.len(), "{name}");
        let diff = t.iter().zip(o).filter(|(a, b)| a != b).count();
        assert_eq!(
            diff,
            0,
            "{name}: ONNX Runtime differs on {diff} of {}",
            o.len()
        );
    }
    let out = &ours[0];
    assert!(out.iter().any(|&v| v != out[0]), "constant output");
    let active = ours[1..]
        .iter()
        .filter(|o| o.iter().any(|&v| v > 0 && v < 255))
        .count();
    assert!(
        active >= 20,
        "only {active} of 27 layers hold values inside 1..254"
    );
    eprintln!(
        "{n} images: {} output accumulators and {} activations identical in ONNX Runtime and ours",
        out.len(),
        ours[1..].iter().map(|o| o.len()).sum::<usize>()
    );

    // the feature dump (the first validation image) is ONNX Runtime's first sample, HWC
    let feats = scratch.join("features");
    let per = c * h * w;
    let input: Vec<i64> = x_int[..per].iter().map(|&v| v as i64).collect();
    assert_eq!(
        read_features(&feats.join("input.txt"))?,
        chw_to_hwc(&input, &[c, h, w])
    );
    let shapes: Vec<&Vec<usize>> = std::iter::once(&net.layers.last().unwrap().out_shape)
        .chain(
            net.layers
                .iter()
                .filter(|l| l.requant.is_some())
                .map(|l| &l.out_shape),
        )
        .collect();
    for (j, ((name, t), shape)) in theirs.iter().zip(&shapes).enumerate() {
        let size: usize = shape.iter().product();
        let file = if j == 0 {
            "output.txt".to_string()
        } else {
            format!("out_layer{}.txt", j - 1)
        };
        let dumped = read_features(&feats.join(&file))?;
        assert_eq!(
            dumped,
            chw_to_hwc(&t[..size], shape),
            "{file} vs ONNX Runtime's {name}"
        );
    }
    assert_eq!(
        read_features(&feats.join("out_layer27.txt"))?,
        read_features(&feats.join("output.txt"))?
    );
    // the header as DORY writes it
    let text = std::fs::read_to_string(feats.join("out_layer0.txt"))?;
    let l0 = &net.layers[0];
    assert!(text.starts_with(&format!(
        "# {} (shape [{}, {}, {}]),\n",
        l0.name, l0.out_shape[1], l0.out_shape[2], l0.out_shape[0]
    )));

    // one additive term one step (D) off: ONNX Runtime must disagree with ours
    let mut wrong = net.clone();
    let r = wrong.layers[0].requant.as_mut().unwrap();
    for a in &mut r.add {
        *a += 1 << 24;
    }
    let (_, theirs_wrong) = run_onnx(&wrong, &x_path, &scratch, "wrong_add")?;
    let first = net.onnx_layer_outputs()[0].clone();
    let (_, t) = theirs_wrong.iter().find(|(n, _)| *n == first).unwrap();
    let diff = t.iter().zip(&ours[1]).filter(|(a, b)| a != b).count();
    assert!(diff > 0, "a wrong additive term went unnoticed");
    Ok(())
}

/// A `[C, H, W]` map in HWC order (DORY's); other shapes as they are.
fn chw_to_hwc(v: &[i64], shape: &[usize]) -> Vec<i64> {
    let &[c, h, w] = shape else {
        return v.to_vec();
    };
    let mut out = vec![0; v.len()];
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w {
                out[(y * w + x) * c + ch] = v[(ch * h + y) * w + x];
            }
        }
    }
    out
}
