//! Our training-time ops against Keras (tensorflow 2.21 / Keras 3, float64,
//! `tests/refs/keras_layers.py`): batch normalization in training mode with
//! its moving statistics, depthwise convolution, max and average pooling with
//! SAME padding, and label-smoothed cross-entropy; outputs and gradients.

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor, Var};
use serde_json::{json, Value};
use workbench::train::ops::batchnorm::{batch_norm_train, update_running_stats};
use workbench::train::ops::depthwise::depthwise_conv2d_fused;
use workbench::train::ops::pool::{avg_pool2d, max_pool2d_padded};
use workbench::train::{cross_entropy_smoothed, Activation, BatchNormConfig, Padding};
use workbench_tests::{python, refs_dir};

/// Deterministic values in [-1, 1) (a 64-bit LCG, Knuth's MMIX constants).
fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            2.0 * (s >> 11) as f64 / (1u64 << 53) as f64 - 1.0
        })
        .collect()
}

fn keras(cases: &[Value]) -> Result<Vec<Value>> {
    let script = refs_dir().join("keras_layers.py");
    let mut child = Command::new(python()?)
        .arg(&script)
        .env("TF_CPP_MIN_LOG_LEVEL", "2")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting the reference python")?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(serde_json::to_string(cases)?.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn floats(v: &Value, key: &str) -> Vec<f64> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn flat(t: &Tensor) -> Vec<f64> {
    t.flatten_all().unwrap().to_vec1::<f64>().unwrap()
}

/// Largest |a - b| relative to 1 + |b|, failing with `what` when lengths differ.
fn close(what: &str, a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    let worst = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
        .fold(0f64, f64::max);
    assert!(worst < tol, "{what}: worst relative difference {worst:e}");
}

/// Compares one Keras result with ours.
type Check = Box<dyn Fn(&Value)>;

#[test]
fn ops_match_keras() -> Result<()> {
    let dev = &Device::Cpu;
    let mut cases = Vec::new();
    let mut checks: Vec<Check> = Vec::new();

    // batch norm, training mode, NCHW and N x F
    for (shape, seed) in [(vec![4usize, 3, 5, 2], 1u64), (vec![6, 5], 2)] {
        let c = shape[1];
        let n: usize = shape.iter().product();
        let x: Vec<f64> = values(n, seed).iter().map(|v| 3.0 * v + 0.5).collect();
        let r = values(n, seed + 10);
        let gamma: Vec<f64> = values(c, seed + 20).iter().map(|v| 1.0 + 0.5 * v).collect();
        let beta = values(c, seed + 30);
        let mm: Vec<f64> = values(c, seed + 40);
        let mv: Vec<f64> = values(c, seed + 50).iter().map(|v| 1.5 + v).collect();
        cases.push(json!({"kind": "batch_norm", "shape": shape, "x": x, "r": r,
            "gamma": gamma, "beta": beta, "moving_mean": mm, "moving_var": mv,
            "momentum": 0.99, "epsilon": 1e-3}));
        let xv = Var::from_tensor(&Tensor::from_vec(x, shape.as_slice(), dev)?)?;
        let g = Var::from_tensor(&Tensor::new(gamma.as_slice(), dev)?)?;
        let b = Var::from_tensor(&Tensor::new(beta.as_slice(), dev)?)?;
        let (y, mean, var) = batch_norm_train(&xv, &g, &b, 1e-3, Activation::None)?;
        let rt = Tensor::from_vec(r, shape.as_slice(), dev)?;
        let grads = (&y * &rt)?.sum_all()?.backward()?;
        let rm = Var::from_tensor(&Tensor::new(mm.as_slice(), dev)?)?;
        let rv = Var::from_tensor(&Tensor::new(mv.as_slice(), dev)?)?;
        update_running_stats(&rm, &rv, &mean, &var, n / c, &BatchNormConfig::keras())?;
        let ours = [
            ("y", flat(&y)),
            ("dx", flat(grads.get(&xv).unwrap())),
            ("dgamma", flat(grads.get(&g).unwrap())),
            ("dbeta", flat(grads.get(&b).unwrap())),
            ("moving_mean", flat(&rm)),
            ("moving_var", flat(&rv)),
        ];
        checks.push(Box::new(move |k: &Value| {
            for (key, v) in &ours {
                close(&format!("batch norm {key}"), v, &floats(k, key), 1e-9);
            }
        }));
    }

    // depthwise convolutions: micro_kws_xs' layer, a DS-CNN block, a dilated VALID one
    for (shape, m, kernel, stride, padding, dilation, seed) in [
        (
            [2usize, 1, 13, 10],
            4usize,
            (5usize, 4usize),
            2usize,
            "same",
            1usize,
            3u64,
        ),
        ([2, 4, 7, 5], 1, (3, 3), 1, "same", 1, 4),
        ([1, 3, 11, 12], 2, (2, 3), 1, "valid", 2, 5),
    ] {
        let o = shape[1] * m;
        let x = values(shape.iter().product(), seed);
        let w = values(o * kernel.0 * kernel.1, seed + 1);
        let b = values(o, seed + 2);
        let pad = if padding == "same" {
            Padding::Same
        } else {
            Padding::Valid
        };
        let xv = Var::from_tensor(&Tensor::from_vec(x.clone(), shape.as_slice(), dev)?)?;
        let wv = Var::from_tensor(&Tensor::from_vec(
            w.clone(),
            (o, 1, kernel.0, kernel.1),
            dev,
        )?)?;
        let bv = Var::from_tensor(&Tensor::new(b.as_slice(), dev)?)?;
        let y = depthwise_conv2d_fused(
            &xv,
            &wv,
            &bv,
            (stride, stride),
            pad,
            (dilation, dilation),
            Activation::None,
        )?;
        let r = values(y.elem_count(), seed + 3);
        let rt = Tensor::from_vec(r.clone(), y.dims(), dev)?;
        let grads = (&y * &rt)?.sum_all()?.backward()?;
        cases.push(
            json!({"kind": "depthwise", "shape": shape, "x": x, "r": r, "w": w, "b": b,
            "kernel": [kernel.0, kernel.1], "multiplier": m, "stride": stride,
            "padding": padding, "dilation": dilation}),
        );
        let dims = y.dims().to_vec();
        let ours = [
            ("y", flat(&y)),
            ("dx", flat(grads.get(&xv).unwrap())),
            ("dw", flat(grads.get(&wv).unwrap())),
            ("db", flat(grads.get(&bv).unwrap())),
        ];
        checks.push(Box::new(move |k: &Value| {
            let ks: Vec<usize> = floats(k, "out_shape").iter().map(|&v| v as usize).collect();
            assert_eq!(ks, dims, "depthwise output shape");
            for (key, v) in &ours {
                close(&format!("depthwise {key}"), v, &floats(k, key), 1e-9);
            }
        }));
    }

    // pooling with SAME padding (odd sizes: padding at the end) and overlapping windows
    for (kind, kernel, stride, padding, seed) in [
        ("max", (3usize, 3usize), (2usize, 2usize), "same", 6u64),
        ("avg", (3, 3), (2, 2), "same", 7),
        ("avg", (2, 3), (1, 2), "same", 8),
        ("max", (3, 2), (1, 1), "valid", 9),
    ] {
        let shape = [2usize, 3, 7, 9];
        let x = values(shape.iter().product(), seed);
        let pad = if padding == "same" {
            Padding::Same
        } else {
            Padding::Valid
        };
        let xv = Var::from_tensor(&Tensor::from_vec(x.clone(), shape.as_slice(), dev)?)?;
        let y = if kind == "max" {
            max_pool2d_padded(&xv, kernel, stride, pad)?
        } else {
            avg_pool2d(&xv, kernel, stride, pad)?
        };
        let r = values(y.elem_count(), seed + 1);
        let rt = Tensor::from_vec(r.clone(), y.dims(), dev)?;
        let grads = (&y * &rt)?.sum_all()?.backward()?;
        cases.push(
            json!({"kind": "pool", "shape": shape, "x": x, "r": r, "pool_kind": kind,
            "kernel": [kernel.0, kernel.1], "stride": [stride.0, stride.1], "padding": padding}),
        );
        let dims = y.dims().to_vec();
        let ours = [("y", flat(&y)), ("dx", flat(grads.get(&xv).unwrap()))];
        checks.push(Box::new(move |k: &Value| {
            let ks: Vec<usize> = floats(k, "out_shape").iter().map(|&v| v as usize).collect();
            assert_eq!(ks, dims, "{kind} pool output shape");
            for (key, v) in &ours {
                close(&format!("{kind} pool {key}"), v, &floats(k, key), 1e-12);
            }
        }));
    }

    // label-smoothed cross-entropy
    {
        let (n, k) = (5usize, 4usize);
        let z: Vec<f64> = values(n * k, 11).iter().map(|v| 3.0 * v).collect();
        let labels = [0u32, 3, 1, 1, 2];
        let zv = Var::from_tensor(&Tensor::from_vec(z.clone(), (n, k), dev)?)?;
        let loss = cross_entropy_smoothed(&zv, &Tensor::new(&labels, dev)?, 0.25)?;
        let g = loss.backward()?;
        cases.push(json!({"kind": "smoothed_ce", "shape": [n, k], "logits": z,
            "labels": labels, "smoothing": 0.25}));
        let ours_loss = loss.to_scalar::<f64>()?;
        let ours_g = flat(g.get(&zv).unwrap());
        checks.push(Box::new(move |kv: &Value| {
            close(
                "smoothed CE loss",
                &[ours_loss],
                &[kv["loss"].as_f64().unwrap()],
                1e-12,
            );
            close(
                "smoothed CE dlogits",
                &ours_g,
                &floats(kv, "dlogits"),
                1e-12,
            );
        }));
    }

    let results = keras(&cases)?;
    assert_eq!(results.len(), checks.len());
    for (check, r) in checks.iter().zip(&results) {
        check(r);
    }
    eprintln!("{} cases match Keras", checks.len());
    Ok(())
}
