//! Ops wired from the `ops` branch, on their Keras 3 fixtures
//! (`tests/refs/keras3/`, made by `gen_models.py`, expected outputs from
//! TFLite's `BUILTIN_REF` kernels): the host interpreter and the board's plan
//! run the one shared preparation and must both match, int8 exactly and
//! float32 within 1e-5 of the output range. The fixtures have no fixed batch
//! size; these elementwise models are run one sample at a time.

use std::path::PathBuf;

use device_bridge::npy::{self, Elem};
use workbench_tflite::Interpreter;

fn refs(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/refs/keras3")).join(name)
}

/// Runs one sample's inputs through the board's plan; returns each output's bytes.
fn board_run(model: &[u8], inputs: &[&[u8]]) -> Vec<Vec<u8>> {
    let plan =
        device_bridge_board::model::prepare(model, 1 << 20, workbench_tflite::Flavor::LiteRt)
            .unwrap();
    // Arena offsets are 4-aligned (float32 tensors): back the arena with u32s.
    let mut aligned = vec![0u32; (plan.activations + plan.scratch).div_ceil(4)];
    let bytes: &mut [u8] = unsafe {
        // SAFETY: u32 storage viewed as bytes, same length in bytes or more.
        std::slice::from_raw_parts_mut(aligned.as_mut_ptr().cast(), aligned.len() * 4)
    };
    for (io, input) in plan.inputs.iter().zip(inputs) {
        let r = plan.arena_range(io.tensor);
        bytes[r].copy_from_slice(input);
    }
    for i in 0..plan.ops() {
        plan.run_step(i, model, bytes);
    }
    plan.outputs
        .iter()
        .map(|o| bytes[plan.arena_range(o.tensor)].to_vec())
        .collect()
}

/// The model's input batches: `NAME.input.npy`, or `NAME.input.K.npy` per input.
fn inputs(name: &str) -> Vec<npy::Array> {
    let one = refs(&format!("{name}.input.npy"));
    if one.exists() {
        return vec![npy::read(&one).unwrap()];
    }
    (0..)
        .map(|k| refs(&format!("{name}.input.{k}.npy")))
        .take_while(|p| p.exists())
        .map(|p| npy::read(&p).unwrap())
        .collect()
}

/// Fixtures not run yet, each with why: their models are rejected at
/// prepare with an error (checked), never a panic.
const NOT_YET: &[(&str, &str)] = &[];

/// Fixtures that run (host and board agree) but differ from TFLite, each
/// with what is known: checked to still differ, printed.
const MISMATCH: &[(&str, &str)] = &[];

/// Every fixture in `tests/refs/keras3`, by name.
fn fixtures() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(refs(""))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().ok()?;
            Some(name.strip_suffix(".tflite")?.to_string())
        })
        .collect();
    names.sort();
    names
}

/// Runs every fixture on the host and the board, except [`NOT_YET`], whose
/// rejection is printed.
#[test]
fn every_keras3_fixture() {
    let mut ran = 0;
    let mut failed = Vec::new();
    for name in fixtures() {
        if let Some((_, why)) = NOT_YET.iter().find(|(n, _)| *n == name) {
            let model = std::fs::read(refs(&format!("{name}.tflite"))).unwrap();
            let err = workbench_tflite::read(&model)
                .and_then(Interpreter::new)
                .expect_err(&name);
            println!("skipped {name}: {why} (host: {err})");
            continue;
        }
        if let Some((_, why)) = MISMATCH.iter().find(|(n, _)| *n == name) {
            let r = std::panic::catch_unwind(|| check_with(&name, false));
            assert!(matches!(r, Ok(false)), "{name}: expected a mismatch");
            println!("mismatch {name}: {why}");
            continue;
        }
        match std::panic::catch_unwind(|| check(&name)) {
            Ok(()) => ran += 1,
            Err(_) => failed.push(name),
        }
    }
    println!("{ran} fixtures ran on host and board");
    assert!(failed.is_empty(), "failed: {failed:?}");
}

/// Whether outputs match TFLite's: int8 exactly, float32 within 1e-5 of the range.
fn close(elem: Elem, got: &[u8], want: &[u8]) -> bool {
    match elem {
        Elem::I8 => got == want,
        Elem::F32 => {
            let f = |b: &[u8]| -> Vec<f32> {
                b.chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                    .collect()
            };
            let (got, want) = (f(got), f(want));
            let range = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
            got.len() == want.len()
                && got
                    .iter()
                    .zip(&want)
                    .all(|(g, w)| (g - w).abs() <= 1e-5 * range)
        }
    }
}

fn check(name: &str) {
    assert!(check_with(name, true));
}

/// The expected outputs: `NAME.expected.npy`, or `NAME.expected.K.npy` per output.
fn expected(name: &str) -> Vec<npy::Array> {
    let one = refs(&format!("{name}.expected.npy"));
    if one.exists() {
        return vec![npy::read(&one).unwrap()];
    }
    (0..)
        .map(|k| refs(&format!("{name}.expected.{k}.npy")))
        .take_while(|p| p.exists())
        .map(|p| npy::read(&p).unwrap())
        .collect()
}

/// Runs `name` on host and board (which must agree); compares every output
/// with TFLite's, asserting if `strict`, else returning whether they match.
fn check_with(name: &str, strict: bool) -> bool {
    let mut all_match = true;
    let model = std::fs::read(refs(&format!("{name}.tflite"))).unwrap();
    let inputs = inputs(name);
    let expected = expected(name);
    assert!(!expected.is_empty(), "{name}: no expected outputs");
    let batch = inputs[0].shape[0];
    let graph = workbench_tflite::read(&model).unwrap();
    assert_eq!(graph.outputs.len(), expected.len(), "{name}: output count");
    let mut host = Interpreter::new(graph).unwrap();
    for b in 0..batch {
        let xs: Vec<&[u8]> = inputs
            .iter()
            .map(|a| {
                let n = a.bytes.len() / batch;
                &a.bytes[b * n..(b + 1) * n]
            })
            .collect();
        for (k, (x, a)) in xs.iter().zip(&inputs).enumerate() {
            match a.elem {
                Elem::I8 => host
                    .set_input_i8(k, &x.iter().map(|&v| v as i8).collect::<Vec<_>>())
                    .unwrap(),
                Elem::F32 => host
                    .set_input_f32(
                        k,
                        &x.chunks_exact(4)
                            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                            .collect::<Vec<_>>(),
                    )
                    .unwrap(),
            }
        }
        host.invoke().unwrap();
        let board_outs = board_run(&model, &xs);
        for (k, (exp, board_out)) in expected.iter().zip(&board_outs).enumerate() {
            let out_len = exp.bytes.len() / batch;
            let want = &exp.bytes[b * out_len..(b + 1) * out_len];
            let host_out: Vec<u8> = match exp.elem {
                Elem::I8 => host
                    .output_i8(k)
                    .unwrap()
                    .iter()
                    .map(|&v| v as u8)
                    .collect(),
                Elem::F32 => host
                    .output_f32(k)
                    .unwrap()
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect(),
            };
            assert_eq!(
                &host_out, board_out,
                "{name} sample {b} output {k}: host and board differ"
            );
            if !strict && !close(exp.elem, &host_out, want) {
                all_match = false;
                continue;
            }
            match exp.elem {
                Elem::I8 => assert_eq!(host_out, want, "{name} sample {b} output {k}"),
                Elem::F32 => {
                    let f = |b: &[u8]| -> Vec<f32> {
                        b.chunks_exact(4)
                            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                            .collect()
                    };
                    let (got, want) = (f(&host_out), f(want));
                    assert_eq!(got.len(), want.len(), "{name} sample {b} output {k}");
                    let range = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
                    for (g, w) in got.iter().zip(&want) {
                        assert!(
                            (g - w).abs() <= 1e-5 * range,
                            "{name} sample {b} output {k}: {g} vs {w}"
                        );
                    }
                }
            }
        }
    }
    all_match
}

#[test]
fn relu_int8() {
    check("relu_int8");
}

#[test]
fn relu6_int8() {
    check("relu6_int8");
}

#[test]
fn relu_f32() {
    check("relu_f32");
}

#[test]
fn relu6_f32() {
    check("relu6_f32");
}

#[test]
fn leaky_relu_int8() {
    check("leaky_relu_int8");
}

#[test]
fn leaky_relu_f32() {
    check("leaky_relu_f32");
}

#[test]
fn leaky_relu_between_fully_connected_int8() {
    check("leaky_relu_model_int8");
}

#[test]
fn hard_swish_after_conv_int8() {
    check("hard_swish_model_int8");
}

#[test]
fn pad_zero_int8() {
    check("pad_zero_int8");
}

#[test]
fn pad_zero_f32() {
    check("pad_zero_f32");
}

#[test]
fn pad_value_int8() {
    check("pad_value_int8");
}

#[test]
fn pad_value_f32() {
    check("pad_value_f32");
}

#[test]
fn neg_f32() {
    check("neg_f32");
}

#[test]
fn neg_between_dequantize_and_quantize_int8() {
    check("neg_int8");
}

#[test]
fn maximum_int8() {
    check("maximum_int8");
}

#[test]
fn maximum_f32() {
    check("maximum_f32");
}

#[test]
fn minimum_int8() {
    check("minimum_int8");
}

#[test]
fn minimum_f32() {
    check("minimum_f32");
}

#[test]
fn flatten_int8() {
    check("flatten_int8");
}

#[test]
fn flatten_f32() {
    check("flatten_f32");
}

#[test]
fn mnist_int8() {
    check("mnist_int8");
}

#[test]
fn mnist_float_io() {
    check("mnist_float_io");
}

/// Flipped bytes in the small Keras 3 fixtures: whatever still reads must
/// prepare (host and board) and run without panicking; every rejection is an
/// error.
#[test]
fn flipped_bytes_never_panic() {
    let mut cases = 0;
    let mut ran = 0;
    // Every byte of every small fixture takes about 4 minutes in a debug
    // build: each fixture flips every 8th byte, from a different start.
    const STRIDE: usize = 8;
    for (f, name) in fixtures().into_iter().enumerate() {
        let model = std::fs::read(refs(&format!("{name}.tflite"))).unwrap();
        if model.len() > 2000 {
            continue;
        }
        for i in (f % STRIDE..model.len()).step_by(STRIDE) {
            let mut v = model.clone();
            v[i] ^= 0xff;
            cases += 1;
            if let Ok(mut it) = workbench_tflite::read(&v).and_then(Interpreter::new) {
                let g = it.graph();
                let (ok8, ok32): (Vec<_>, Vec<_>) = g
                    .inputs
                    .iter()
                    .map(|&t| g.tensors[t].num_elements())
                    .map(|n| (vec![7i8; n], vec![0.5f32; n]))
                    .unzip();
                let mut set = true;
                for (k, (a, b)) in ok8.iter().zip(&ok32).enumerate() {
                    set &= it.set_input_i8(k, a).is_ok() || it.set_input_f32(k, b).is_ok();
                }
                if set {
                    it.invoke().unwrap();
                    ran += 1;
                }
            }
            if let Ok(plan) =
                device_bridge_board::model::prepare(&v, 1 << 20, workbench_tflite::Flavor::Micro)
            {
                let mut arena = vec![0u32; (plan.activations + plan.scratch).div_ceil(4)];
                let bytes: &mut [u8] = unsafe {
                    // SAFETY: u32 storage viewed as bytes.
                    std::slice::from_raw_parts_mut(arena.as_mut_ptr().cast(), arena.len() * 4)
                };
                for s in 0..plan.ops() {
                    plan.run_step(s, &v, bytes);
                }
            }
        }
    }
    println!("{cases} flipped models, {ran} still ran on the host");
    assert!(ran > 50, "{ran}");
}

#[test]
fn ds_cnn_dynamic() {
    check("ds_cnn_dynamic");
}

#[test]
fn mnist_dynamic() {
    check("mnist_dynamic");
}

#[test]
fn mnist_dynamic_per_tensor() {
    check("mnist_dynamic_per_tensor");
}
