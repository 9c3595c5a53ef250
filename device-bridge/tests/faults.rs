//! Faults between host and board, injected by a relay: every result either
//! arrives correct or the run fails with a clear error; a board reset or a
//! dropped link in the middle of a model push is recovered from.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use device_bridge::check::check;
use device_bridge::error::Error;
use device_bridge::host_board::HostBoardConfig;
use device_bridge::relay::{Faults, Relay, Trigger};

#[test]
fn noisy_link_gives_exact_outputs() {
    let board = host_board(HostBoardConfig::default());
    let faults = Faults {
        drop: 1e-4,
        duplicate: 1e-4,
        corrupt: 1e-4,
        cut_after: None,
        seed: 7,
    };
    let relay = Relay::spawn(board.addr().unwrap(), faults, None).unwrap();
    let mut dev = connect(relay.addr(), Duration::from_millis(100)).unwrap();
    for name in ["mnist_tiny", "conv_channels"] {
        let (model, batch) = fixture(name);
        let r = check(&mut dev, &model, &batch).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.mismatched_samples, 0, "{name}:\n{r}");
    }
    let stats = dev.link_stats();
    assert!(
        relay.faults.load(Ordering::Relaxed) > 0,
        "the relay injected no faults"
    );
    assert!(stats.resent > 0, "no request was resent: {stats:?}");
}

#[test]
fn heavy_noise_fails_with_a_clear_error_or_exact_outputs() {
    // 0.6% of bytes faulted: many frames break; whatever comes back must be right.
    let board = host_board(HostBoardConfig::default());
    let faults = Faults {
        drop: 0.002,
        duplicate: 0.002,
        corrupt: 0.002,
        cut_after: None,
        seed: 11,
    };
    let relay = Relay::spawn(board.addr().unwrap(), faults, None).unwrap();
    let mut dev = match connect(relay.addr(), Duration::from_millis(30)) {
        Ok(d) => d,
        Err(e) => return assert!(matches!(e, Error::Timeout { .. }), "{e}"),
    };
    dev.chunk = 64;
    let (model, batch) = fixture("conv_same_s2_none");
    match check(&mut dev, &model, &batch) {
        Ok(r) => assert_eq!(r.mismatched_samples, 0, "{r}"),
        Err(e) => assert!(
            matches!(e, Error::Timeout { .. }),
            "unexpected error kind: {e}"
        ),
    }
}

#[test]
fn cut_link_fails_with_a_clear_error() {
    let board = host_board(HostBoardConfig::default());
    let faults = Faults {
        cut_after: Some(5000),
        ..Faults::default()
    };
    let relay = Relay::spawn(board.addr().unwrap(), faults, None).unwrap();
    let mut dev = connect(relay.addr(), Duration::from_millis(200)).unwrap();
    let (model, _) = fixture("mnist_tiny");
    let e = dev.push_model(&model).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Link {
                what: "load chunk",
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with("link to the board failed during load chunk"),
        "{e}"
    );
}

#[test]
fn push_resumes_after_the_link_drops() {
    let board = host_board(HostBoardConfig::default());
    let (model, batch) = fixture("mnist_tiny");
    {
        let cut = Relay::spawn(
            board.addr().unwrap(),
            Faults {
                cut_after: Some(9000),
                ..Faults::default()
            },
            None,
        )
        .unwrap();
        let mut dev = connect(cut.addr(), Duration::from_millis(200)).unwrap();
        assert!(dev.push_model(&model).is_err());
    }
    // The board kept the partial transfer: a new connection resumes it.
    let mut dev = connect(board.addr().unwrap(), Duration::from_millis(500)).unwrap();
    let r = check(&mut dev, &model, &batch).unwrap();
    assert!(
        r.push.resumed_at >= 7000,
        "resumed at {}",
        r.push.resumed_at
    );
    assert!(
        r.push.sent < model.len(),
        "sent {} of {}",
        r.push.sent,
        model.len()
    );
    assert_eq!(r.mismatched_samples, 0);
}

#[test]
fn board_reset_during_push_is_recovered() {
    let board = host_board(HostBoardConfig::default());
    let trigger = Trigger {
        at: 12_000,
        flag: board.reset_handle(),
    };
    let relay = Relay::spawn(board.addr().unwrap(), Faults::default(), Some(trigger)).unwrap();
    let mut dev = connect(relay.addr(), Duration::from_millis(300)).unwrap();
    let (model, batch) = fixture("mnist_tiny");
    let r = check(&mut dev, &model, &batch).unwrap();
    assert_eq!(r.push.restarts, 1, "{r}");
    assert!(r.push.sent > model.len());
    assert_eq!(r.mismatched_samples, 0, "{r}");
}
