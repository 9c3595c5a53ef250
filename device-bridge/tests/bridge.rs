//! The bridge against the host board: every reference model gives the host
//! interpreter's outputs byte for byte, over TCP and a pseudo-terminal; bad
//! models, full memories and protocol mismatches give clear errors.

mod common;

use std::time::Duration;

use common::*;
use device_bridge::check::{check, HostModel};
use device_bridge::device::Device;
use device_bridge::error::{Error, ErrorCode};
use device_bridge::host_board::HostBoardConfig;
use device_bridge::transport::Serial;

#[test]
fn every_reference_model_matches_the_host_interpreter() {
    let board = host_board(HostBoardConfig::default());
    let mut dev = connect(board.addr().unwrap(), Duration::from_secs(2)).unwrap();
    let names = fixture_names();
    assert!(names.len() >= 18, "fixtures: {names:?}");
    for name in &names {
        let (model, batch) = fixture(name);
        let r = check(&mut dev, &model, &batch).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.samples, batch.shape[0], "{name}");
        assert_eq!(r.mismatched_samples, 0, "{name}:\n{r}");
        assert_eq!(
            r.layers.len(),
            HostModel::new(&model).unwrap().graph().nodes.len(),
            "{name}"
        );
        assert!(r.push.model.arena_used > 0 && r.push.model.arena_used <= r.arena_capacity);
        assert_eq!(r.push.model.model_bytes as usize, model.len());
    }
}

#[test]
fn outputs_differ_between_inputs() {
    // Guards against a board that returns stale or constant outputs.
    let board = host_board(HostBoardConfig::default());
    let mut dev = connect(board.addr().unwrap(), Duration::from_secs(2)).unwrap();
    let (model, batch) = fixture("mnist_tiny");
    let host = HostModel::new(&model).unwrap();
    dev.push_model(&model).unwrap();
    let run = dev
        .run_batch(&host.samples(&batch).unwrap(), false)
        .unwrap();
    assert!(run.outputs.windows(2).any(|w| w[0] != w[1]));
}

#[test]
fn pseudo_terminal_transport_runs_the_same_code() {
    let (_board, port) =
        device_bridge::host_board::HostBoard::spawn_pty(HostBoardConfig::default()).unwrap();
    let mut dev = Device::open(Box::new(Serial::from_port(Box::new(port), "pty"))).unwrap();
    assert_eq!(dev.info().name, "host");
    let (model, batch) = fixture("dw_m4_s2");
    let r = check(&mut dev, &model, &batch).unwrap();
    assert_eq!(r.mismatched_samples, 0, "{r}");
}

#[test]
fn model_too_big_for_the_board_is_a_clear_error() {
    let board = host_board(HostBoardConfig {
        model_capacity: 4096,
        arena_capacity: 1 << 16,
    });
    let mut dev = connect(board.addr().unwrap(), Duration::from_secs(2)).unwrap();
    let (model, _) = fixture("mnist_tiny");
    let e = dev.push_model(&model).unwrap_err();
    assert_eq!(e.board_code(), Some(ErrorCode::ModelTooBig), "{e}");
    assert!(
        e.to_string().contains(&format!(
            "model of {} bytes exceeds the board's 4096 bytes",
            model.len()
        )),
        "{e}"
    );
}

#[test]
fn arena_too_small_is_a_clear_error() {
    let board = host_board(HostBoardConfig {
        model_capacity: 1 << 16,
        arena_capacity: 1000,
    });
    let mut dev = connect(board.addr().unwrap(), Duration::from_secs(2)).unwrap();
    let (model, _) = fixture("mnist_tiny");
    let e = dev.push_model(&model).unwrap_err();
    assert_eq!(e.board_code(), Some(ErrorCode::ArenaTooSmall), "{e}");
    assert!(e.to_string().contains("tensor arena too small"), "{e}");
    assert!(e.to_string().contains("the board has 1000"), "{e}");
}

/// Rewrites every operator code of a model to builtin `code`.
fn patch_opcodes(model: &mut [u8], code: i32) {
    use workbench_tflite::schema::{root_as_model, OperatorCode};
    let mut spots = Vec::new();
    {
        let m = root_as_model(model).unwrap();
        for c in m.operator_codes().unwrap() {
            let (loc, vt) = (c._tab.loc(), c._tab.vtable());
            spots.push((
                vt.get(OperatorCode::VT_DEPRECATED_BUILTIN_CODE) as usize,
                vt.get(OperatorCode::VT_BUILTIN_CODE) as usize,
                loc,
            ));
        }
    }
    for (d, b, loc) in spots {
        if d != 0 {
            model[loc + d] = code as u8;
        }
        if b != 0 {
            model[loc + b..loc + b + 4].copy_from_slice(&code.to_le_bytes());
        }
    }
}

#[test]
fn unsupported_op_is_named_by_the_board() {
    let board = host_board(HostBoardConfig::default());
    let mut dev = connect(board.addr().unwrap(), Duration::from_secs(2)).unwrap();
    let (mut model, _) = fixture("fc");
    patch_opcodes(&mut model, 15); // LSH_PROJECTION
    let e = dev.push_model(&model).unwrap_err();
    assert_eq!(e.board_code(), Some(ErrorCode::UnsupportedOp), "{e}");
    assert!(
        e.to_string()
            .contains("op 0 (LSH_PROJECTION): unsupported operator (builtin code 15)"),
        "{e}"
    );
}

#[test]
fn garbage_model_is_rejected() {
    let board = host_board(HostBoardConfig::default());
    let mut dev = connect(board.addr().unwrap(), Duration::from_secs(2)).unwrap();
    let e = dev.push_model(&[7u8; 300]).unwrap_err();
    assert_eq!(e.board_code(), Some(ErrorCode::BadModel), "{e}");
    assert!(e.to_string().contains("not a tflite model"), "{e}");
    let (model, _) = fixture("fc");
    let e = dev.push_model(&model[..model.len() - 40]).unwrap_err();
    assert_eq!(e.board_code(), Some(ErrorCode::BadModel), "{e}");
}

#[test]
fn protocol_version_mismatch_is_reported() {
    let board = host_board(HostBoardConfig::default());
    let t = device_bridge::transport::Tcp::connect(board.addr().unwrap(), Duration::from_secs(2))
        .unwrap();
    let mut link = device_bridge::link::Link::new(Box::new(t));
    link.version = 9;
    match Device::open_link(link) {
        Err(Error::Version { board, host }) => {
            assert_eq!((board, host), (device_bridge_protocol::PROTOCOL_VERSION, 9))
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a version-9 host was accepted"),
    }
}

#[test]
fn a_silent_board_times_out() {
    // Accepts the connection and reads, but never answers.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let _t = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let _ = std::io::copy(&mut s, &mut std::io::sink());
    });
    let t0 = std::time::Instant::now();
    let e = connect(addr, Duration::from_millis(50))
        .err()
        .expect("no board answered");
    assert!(
        matches!(
            e,
            Error::Timeout {
                what: "hello",
                attempts: 8,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("no reply from the board after 8 attempts"),
        "{e}"
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
}

#[test]
fn report_renders_as_html_for_evcxr() {
    let board = host_board(HostBoardConfig::default());
    let mut dev = connect(board.addr().unwrap(), Duration::from_secs(2)).unwrap();
    let (model, batch) = fixture("pool_max");
    let r = check(&mut dev, &model, &batch).unwrap();
    let html = r.to_html();
    assert!(
        html.starts_with("<table>") && html.contains("<td>MAX_POOL_2D</td>"),
        "{html}"
    );
    assert!(r.to_string().contains("mismatching outputs: 0 samples"));
}

#[test]
fn serial_port_path_reaches_a_board_on_a_pseudo_terminal() {
    let (_board, path) =
        device_bridge::host_board::HostBoard::spawn_pty_device(HostBoardConfig::default()).unwrap();
    let opts = device_bridge::boards::OpenOptions::default();
    let mut b = device_bridge::boards::open(&format!("serial:{path}@115200"), &opts).unwrap();
    let (model, batch) = fixture("pool_avg");
    let r = check(&mut b.device, &model, &batch).unwrap();
    assert_eq!(r.mismatched_samples, 0, "{r}");
    let e = device_bridge::boards::open("serial:/dev/does-not-exist", &opts)
        .err()
        .unwrap();
    assert!(e.to_string().contains("/dev/does-not-exist"), "{e}");
    let e = device_bridge::boards::open("warp-drive", &opts)
        .err()
        .unwrap();
    assert!(
        e.to_string().starts_with("unknown board 'warp-drive'"),
        "{e}"
    );
}
