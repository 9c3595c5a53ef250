//! MLPerf Tiny's trained int8 reference models (`tests/refs/mlperf/`, from
//! mlcommons/tiny) on the emulated Cortex-M4 (`qemu-mps2-an386`) through
//! `check`, the path of `device-bridge check`: zero mismatches against the
//! host interpreter and against TFLite's outputs (TFLite Micro's,
//! `NAME.expected_tflm.npy`, for a board with its arithmetic; else LiteRT's reference kernels'), with instructions
//! per inference and per layer and RAM/flash against the board's limits. A
//! model that does not fit gets an error naming what does not fit. QEMU tests
//! print `SKIPPED ...` with the reason when QEMU or the firmware is missing
//! (and fail under `CI=true`), as do models needing an op the board lacks.

mod common;

use std::io::Write;

use common::*;
use device_bridge::boards::{self, OpenOptions, QEMU_BOARD};
use device_bridge::check::check;
use device_bridge::error::ErrorCode;
use device_bridge::host_board::HostBoardConfig;
use device_bridge::npy::{self, Array};
use workbench_tflite::Flavor;

/// The four MLPerf Tiny v1 benchmarks' int8 models, by file stem.
const MODELS: [&str; 4] = [
    "ad01_int8",
    "kws_ref_model",
    "pretrainedResnet_quant",
    "vww_96_int8",
];

/// Models at most this big go over the emulated UART (about 27 KB/s); larger
/// ones are preloaded with QEMU's `-device loader` (`device-bridge check --preload`).
const UART_PUSH_MAX: usize = 100_000;

/// Writes to the real stderr, so the lines show even when output is captured.
fn say(s: &str) {
    let _ = writeln!(std::io::stderr(), "{s}");
}

/// A model's bytes and input batch.
fn mlperf(name: &str) -> (Vec<u8>, Array) {
    let dir = refs().join("mlperf");
    let model = std::fs::read(dir.join(format!("{name}.tflite"))).unwrap();
    let batch = npy::read(&dir.join(format!("{name}.input.npy"))).unwrap();
    (model, batch)
}

/// The outputs of the TFLite interpreter whose arithmetic `flavor` follows:
/// LiteRT's reference kernels or TFLite Micro.
fn expected(name: &str, flavor: Flavor) -> Array {
    let file = match flavor {
        Flavor::LiteRt => format!("{name}.expected.npy"),
        Flavor::Micro => format!("{name}.expected_tflm.npy"),
    };
    npy::read(&refs().join("mlperf").join(file)).unwrap()
}

/// `true` if the QEMU board can run; otherwise says why.
fn available(test: &str) -> bool {
    match boards::qemu_firmware() {
        Ok(_) => true,
        Err(why) => {
            assert!(
                std::env::var("CI").is_err(),
                "{QEMU_BOARD} must run under CI: {why}"
            );
            say(&format!("SKIPPED {test} ({QEMU_BOARD}): {why}"));
            false
        }
    }
}

#[test]
fn mlperf_models_on_the_emulated_cortex_m4_match_host_and_tflite() {
    if !available("mlperf_models_on_the_emulated_cortex_m4_match_host_and_tflite") {
        return;
    }
    let mut skipped = Vec::new();
    for name in MODELS {
        let (model, batch) = mlperf(name);
        let preload = model.len() > UART_PUSH_MAX;
        let opts = OpenOptions {
            preload: preload.then(|| refs().join("mlperf").join(format!("{name}.tflite"))),
            ..OpenOptions::default()
        };
        let mut b = boards::open(QEMU_BOARD, &opts).unwrap();
        let r = match check(&mut b.device, &model, &batch) {
            Ok(r) => r,
            Err(e) if e.board_code() == Some(ErrorCode::UnsupportedOp) => {
                say(&format!("SKIPPED {name} on {QEMU_BOARD}: {e}"));
                skipped.push(name);
                continue;
            }
            Err(e) => panic!("{name}: {e}"),
        };
        say(&format!(
            "== {name} ({} bytes, {}) ==\n{r}",
            model.len(),
            if preload {
                "preloaded with -device loader"
            } else {
                "pushed over the UART"
            }
        ));
        assert_eq!(r.mismatched_samples, 0, "{name}: board vs host\n{r}");
        assert_eq!(r.unit, "instructions");
        assert_eq!(r.samples, batch.shape[0], "{name}");
        // TFLite (Micro, for the Cortex-M4), bit for bit.
        let flavor = b.device.info().flavor;
        assert_eq!(
            flavor,
            Flavor::Micro,
            "{QEMU_BOARD} runs TFLite Micro's arithmetic"
        );
        let expected = expected(name, flavor);
        assert_eq!(r.outputs.shape, expected.shape, "{name}");
        let differ = r
            .outputs
            .bytes
            .iter()
            .zip(&expected.bytes)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(
            differ, 0,
            "{name}: {differ} output bytes differ from TFLite ({flavor:?})"
        );
        assert_eq!(r.layers.len(), host_ops(&model), "{name}: one count per op");
        assert!(r.layers.iter().all(|l| l.count > 0), "{name}:\n{r}");
        let m = &r.push.model;
        assert!(m.model_bytes as usize == model.len() && m.model_bytes <= r.model_capacity);
        assert!(m.arena_used <= r.arena_capacity, "{name}:\n{r}");
        say(&format!(
            "{name}: {:.0} instructions/inference; flash {} of {} bytes ({:.1}%); RAM arena {} of {} bytes ({:.1}%) + {} bytes of prepared parameters",
            r.mean_count(),
            m.model_bytes,
            r.model_capacity,
            100.0 * f64::from(m.model_bytes) / f64::from(r.model_capacity),
            m.arena_used,
            r.arena_capacity,
            100.0 * f64::from(m.arena_used) / f64::from(r.arena_capacity),
            m.plan_bytes
        ));
    }
    assert!(
        skipped.is_empty() || std::env::var("CI").is_err(),
        "skipped under CI: {skipped:?}"
    );
}

/// Ops in a model, as the host reads it.
fn host_ops(model: &[u8]) -> usize {
    workbench_tflite::read(model).unwrap().nodes.len()
}

#[test]
fn too_large_for_the_board_names_what_does_not_fit() {
    // Flash: VWW (333,288 bytes) into 256 KiB of model storage.
    let (model, batch) = mlperf("vww_96_int8");
    let board = host_board(HostBoardConfig {
        model_capacity: 256 << 10,
        ..HostBoardConfig::default()
    });
    let mut d = connect(board.addr().unwrap(), std::time::Duration::from_secs(2)).unwrap();
    let e = check(&mut d, &model, &batch).unwrap_err();
    say(&format!("vww_96_int8 into 256 KiB of flash: {e}"));
    assert_eq!(e.board_code(), Some(ErrorCode::ModelTooBig), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("333288") && msg.contains(&(256 << 10).to_string()),
        "{msg}"
    );

    // RAM: VWW's activations into a 32 KiB arena.
    let board = host_board(HostBoardConfig {
        arena_capacity: 32 << 10,
        ..HostBoardConfig::default()
    });
    let mut d = connect(board.addr().unwrap(), std::time::Duration::from_secs(2)).unwrap();
    let e = check(&mut d, &model, &batch).unwrap_err();
    say(&format!("vww_96_int8 into a 32 KiB arena: {e}"));
    assert_eq!(e.board_code(), Some(ErrorCode::ArenaTooSmall), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("tensor arena") && msg.contains(&(32 << 10).to_string()),
        "{msg}"
    );
}

#[test]
fn too_large_for_the_emulated_cortex_m4_names_what_does_not_fit() {
    if !available("too_large_for_the_emulated_cortex_m4_names_what_does_not_fit") {
        return;
    }
    let mut b = boards::open(QEMU_BOARD, &OpenOptions::default()).unwrap();
    let (flash, arena) = (
        b.device.info().model_capacity as usize,
        b.device.info().arena_capacity as usize,
    );
    // Flash: a synthetic model one byte larger than the board's model storage
    // (ad01 padded with zeros; a flatbuffer ignores trailing bytes).
    let (mut model, batch) = mlperf("ad01_int8");
    model.resize(flash + 1, 0);
    let e = check(&mut b.device, &model, &batch).unwrap_err();
    say(&format!("{} bytes on {QEMU_BOARD}: {e}", model.len()));
    assert_eq!(e.board_code(), Some(ErrorCode::ModelTooBig), "{e}");
    assert!(e.to_string().contains(&flash.to_string()), "{e}");

    // RAM: a synthetic model whose one activation pair needs more than the arena.
    let big = synthetic_requantize(arena / 2 + 1);
    let x = Array {
        shape: vec![1, arena / 2 + 1],
        elem: npy::Elem::I8,
        bytes: vec![0; arena / 2 + 1],
    };
    let e = check(&mut b.device, &big, &x).unwrap_err();
    say(&format!(
        "{} activations on {QEMU_BOARD}: {e}",
        2 * (arena / 2 + 1)
    ));
    assert_eq!(e.board_code(), Some(ErrorCode::ArenaTooSmall), "{e}");
    assert!(
        e.to_string().contains("tensor arena") && e.to_string().contains(&arena.to_string()),
        "{e}"
    );
}

/// A one-op model: int8 `[1, n]` requantized (QUANTIZE) to int8 `[1, n]`.
fn synthetic_requantize(n: usize) -> Vec<u8> {
    use workbench_tflite::{DType, Graph, Op, Quant, Tensor};
    let act = |name: &str, scale: f32| Tensor {
        name: name.into(),
        shape: vec![1, n],
        dtype: DType::I8,
        quant: Some(Quant::per_tensor(scale, 0)),
        data: None,
    };
    let mut g = Graph::default();
    let x = g.add_tensor(act("x", 0.5));
    let y = g.add_tensor(act("y", 0.25));
    g.add_node(Op::Quantize, vec![Some(x)], vec![y]);
    g.inputs = vec![x];
    g.outputs = vec![y];
    workbench_tflite::write(&g).unwrap()
}
