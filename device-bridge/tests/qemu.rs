//! The emulated Cortex-M4 (`qemu-mps2-an386`) running our firmware: every
//! reference model gives the host interpreter's outputs byte for byte, with
//! instruction counts; the `-device loader` preload fast path; MLPerf Tiny.
//! Skipped with a printed reason (not silently) when QEMU or the firmware
//! is missing; under CI (`CI=true`) a missing firmware fails instead.

mod common;

use std::io::Write;
use std::time::Instant;

use common::*;
use device_bridge::boards::{self, OpenOptions, QEMU_BOARD};
use device_bridge::check::{check, HostModel};
use device_bridge::mlperf::MlperfDut;

/// `true` if the QEMU board can run; otherwise says why on the terminal.
fn available(test: &str) -> bool {
    match boards::qemu_firmware() {
        Ok(_) => true,
        Err(why) => {
            assert!(
                std::env::var("CI").is_err(),
                "{QEMU_BOARD} must run under CI: {why}"
            );
            // Written to the real stderr so the skip shows even when output is captured.
            let _ = writeln!(std::io::stderr(), "SKIPPED {test} ({QEMU_BOARD}): {why}");
            false
        }
    }
}

#[test]
fn qemu_board_matches_the_host_on_every_reference_model() {
    if !available("qemu_board_matches_the_host_on_every_reference_model") {
        return;
    }
    let mut b = boards::open(QEMU_BOARD, &OpenOptions::default()).unwrap();
    assert_eq!(b.device.info().cpu, "cortex-m4");
    for name in fixture_names() {
        let (model, batch) = fixture(&name);
        let r = check(&mut b.device, &model, &batch).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.mismatched_samples, 0, "{name}:\n{r}");
        assert_eq!(r.unit, "instructions");
        assert!(r.layers.iter().all(|l| l.count > 0), "{name}: {r}");
        let _ = writeln!(
            std::io::stderr(),
            "{name}: {:.0} instructions/inference, push {:.1} KB/s",
            r.mean_count(),
            r.push.throughput() / 1000.0
        );
    }
}

#[test]
fn instruction_counts_repeat() {
    if !available("instruction_counts_repeat") {
        return;
    }
    let mut b = boards::open(QEMU_BOARD, &OpenOptions::default()).unwrap();
    let (model, batch) = fixture("mnist_tiny");
    let host = HostModel::new(&model).unwrap();
    let x = host.samples(&batch).unwrap().remove(0);
    b.device.push_model(&model).unwrap();
    let counts: Vec<u64> = (0..3)
        .map(|_| {
            b.device.set_input(0, &x).unwrap();
            b.device.invoke().unwrap()
        })
        .collect();
    // -icount shift=0 makes execution deterministic; SysTick reads are 40 instructions apart.
    let spread = counts.iter().max().unwrap() - counts.iter().min().unwrap();
    assert!(spread <= 80, "counts {counts:?}");
}

#[test]
fn preloaded_model_skips_the_uart_push() {
    if !available("preloaded_model_skips_the_uart_push") {
        return;
    }
    let path = refs().join("mnist_tiny.tflite");
    let (model, batch) = fixture("mnist_tiny");
    let opts = OpenOptions {
        preload: Some(path),
        ..OpenOptions::default()
    };
    let mut b = boards::open(QEMU_BOARD, &opts).unwrap();
    let t = Instant::now();
    let r = check(&mut b.device, &model, &batch).unwrap();
    assert_eq!(r.push.sent, 0, "{r}");
    assert_eq!(r.push.resumed_at, model.len());
    assert_eq!(r.mismatched_samples, 0);
    let _ = writeln!(
        std::io::stderr(),
        "preloaded push {:.3} s, check {:?}",
        r.push.seconds,
        t.elapsed()
    );
}

#[test]
fn mlperf_runner_drives_the_qemu_board() {
    if !available("mlperf_runner_drives_the_qemu_board") {
        return;
    }
    let (model, batch) = fixture("fc");
    let mut b = boards::open(QEMU_BOARD, &OpenOptions::default()).unwrap();
    b.device.push_model(&model).unwrap();
    let (device, _guard) = b.into_parts();
    let mut dut = MlperfDut::open(device.into_link().into_transport()).unwrap();
    assert_eq!(dut.name().unwrap(), QEMU_BOARD);
    dut.load(&batch.bytes[..20]).unwrap();
    let r = dut.infer(4, 1).unwrap();
    let mut host = HostModel::new(&model).unwrap();
    let y = host.run(&batch.bytes[..20]).unwrap();
    let g = host.graph();
    let q = g.tensors[g.outputs[0]].quant.clone().unwrap();
    for (got, &v) in r.results.iter().zip(&y) {
        let want = q.scale[0] * (i32::from(v as i8) - q.zero_point[0] as i32) as f32;
        assert!((got - want).abs() <= 0.0005, "{:?}", r.results);
    }
    assert!(r.elapsed_us > 0);
}

#[test]
fn notebook_check_on_qemu_is_bit_exact_and_prints_the_summary_line() {
    if !available("notebook_check_on_qemu_is_bit_exact_and_prints_the_summary_line") {
        return;
    }
    let (model, batch) = fixture("mnist_tiny");
    let host = HostModel::new(&model).unwrap();
    let samples: Vec<Vec<i8>> = host
        .samples(&batch)
        .unwrap()
        .into_iter()
        .map(|s| s.into_iter().map(|b| b as i8).collect())
        .collect();
    let batch = device_bridge::npy::Array::from_i8_samples(&samples).unwrap();
    let board = device_bridge::notebook::check_on_qemu(&model, &batch).unwrap();
    assert!(board.bit_exact(), "{board}");
    let r = board.report().unwrap();
    assert_eq!(r.push.sent, 0, "preloaded, not pushed: {r}");
    let line = board.summary();
    let want = format!("board mismatches: 0 of {} outputs", r.output_values());
    assert!(line.starts_with(&want), "{line}");
    assert!(
        line.contains("RAM (arena)") && line.contains("flash (model)"),
        "{line}"
    );
    let html = board.to_html();
    assert!(
        html.contains("instructions per inference")
            && html.contains("ms (at one instruction per cycle)"),
        "{html}"
    );
    let _ = writeln!(std::io::stderr(), "{line}");
}
