//! `device_bridge::notebook`: without a firmware image the board section is
//! skipped with its reason in one line, not an error. (Its own test binary:
//! it sets `DEVICE_FIRMWARE`, which the QEMU tests read.)

mod common;

use common::*;

#[test]
fn missing_firmware_skips_with_the_reason() {
    std::env::set_var("DEVICE_FIRMWARE", "/nonexistent/device-bridge-firmware");
    let why = device_bridge::notebook::qemu_skip_reason().expect("no firmware: a reason");
    let (model, batch) = fixture("mnist_tiny");
    let board = device_bridge::notebook::check_on_qemu(&model, &batch).unwrap();
    assert!(board.report().is_none() && !board.bit_exact());
    let line = board.summary();
    assert_eq!(line, format!("board section skipped: {why}"));
    assert!(!line.contains('\n'), "{line}");
    assert!(board.to_html().contains("skipped"));
}
