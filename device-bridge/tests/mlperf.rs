//! The MLPerf Tiny runner protocol both ways: our host-side driver against
//! our board and against a scripted DUT printing what EEMBC's reference
//! `ee_lib` prints; our board against the runner's command transcript.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use common::*;
use device_bridge::check::HostModel;
use device_bridge::error::Error;
use device_bridge::host_board::HostBoardConfig;
use device_bridge::mlperf::MlperfDut;
use device_bridge::transport::Tcp;

/// The host's int8 output 0 as floats: `scale * (q - zero_point)`.
fn dequantize(host: &HostModel, y: &[u8]) -> Vec<f32> {
    let g = host.graph();
    let q = g.tensors[g.outputs[0]].quant.clone().unwrap();
    y.iter()
        .map(|&v| q.scale[0] * (i32::from(v as i8) - q.zero_point[0] as i32) as f32)
        .collect()
}

/// Sends `cmd` and reads until `m-ready`.
fn say(s: &mut TcpStream, cmd: &str) -> String {
    s.write_all(cmd.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(b"m-ready\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "board closed the link");
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(got).unwrap()
}

#[test]
fn our_board_follows_the_runner_transcript() {
    let board = host_board(HostBoardConfig::default());
    let (model, batch) = fixture("fc");
    connect(board.addr().unwrap(), Duration::from_secs(1))
        .unwrap()
        .push_model(&model)
        .unwrap();
    let mut s = TcpStream::connect(board.addr().unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // The boot lines arrive on connect; an empty write just reads them.
    assert_eq!(say(&mut s, ""), "m-init-done\r\nm-ready\r\n");
    assert_eq!(say(&mut s, "name%"), "m-name-dut-[host]\r\nm-ready\r\n");
    assert_eq!(say(&mut s, "bogus%"), "e-[Unknown command]\r\nm-ready\r\n");
    assert_eq!(
        say(&mut s, "db load 7%"),
        "e-[db load 7: the model's input has 20 bytes]\r\nm-ready\r\n"
    );
    assert_eq!(
        say(&mut s, "db load 20%"),
        "m-[Expecting 20 bytes]\r\nm-ready\r\n"
    );
    let hex: String = batch.bytes[..20]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(say(&mut s, &format!("db {}%", &hex[..16])), "m-ready\r\n");
    assert_eq!(
        say(&mut s, &format!("db {}%", &hex[16..])),
        "m-load-done\r\nm-ready\r\n"
    );
    let out = say(&mut s, "infer 2 1%");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..3],
        ["m-warmup-start-1", "m-warmup-done", "m-infer-start-2"],
        "{out}"
    );
    assert!(
        lines[3].starts_with("m-lap-us-") && lines[4].starts_with("m-lap-us-"),
        "{out}"
    );
    assert_eq!(lines[5], "m-infer-done");
    // The expected results: the host interpreter's int8 output, dequantized, 3 decimals.
    let mut host = HostModel::new(&model).unwrap();
    let y = host.run(&batch.bytes[..20]).unwrap();
    let vals: Vec<String> = dequantize(&host, &y)
        .iter()
        .map(|v| format!("{v:.3}"))
        .collect();
    assert_eq!(lines[6], format!("m-results-[{}]", vals.join(",")));
    assert_eq!(lines[7], "m-ready");
    assert_eq!(
        say(&mut s, "results%"),
        format!("m-results-[{}]\r\nm-ready\r\n", vals.join(","))
    );
}

#[test]
fn our_driver_runs_our_board() {
    let board = host_board(HostBoardConfig::default());
    let (model, batch) = fixture("mnist_tiny");
    connect(board.addr().unwrap(), Duration::from_secs(1))
        .unwrap()
        .push_model(&model)
        .unwrap();
    let t = Tcp::connect(board.addr().unwrap(), Duration::from_secs(2)).unwrap();
    let mut dut = MlperfDut::open(Box::new(t)).unwrap();
    assert_eq!(dut.name().unwrap(), "host");
    let mut host = HostModel::new(&model).unwrap();
    let n = host.input_bytes();
    for x in batch.bytes.chunks(n).take(3) {
        dut.load(x).unwrap();
        let r = dut.infer(3, 1).unwrap();
        let y = host.run(x).unwrap();
        let want = dequantize(&host, &y);
        assert_eq!(r.results.len(), want.len());
        for (a, b) in r.results.iter().zip(&want) {
            assert!((a - b).abs() <= 0.0005, "{:?} vs {want:?}", r.results);
        }
        assert_eq!(dut.results().unwrap(), r.results);
    }
    let e = dut.command("db load 3").unwrap_err();
    assert!(
        e.to_string()
            .contains("e-[db load 3: the model's input has 784 bytes]"),
        "{e}"
    );
    assert_eq!(
        dut.name().unwrap(),
        "host",
        "the driver recovers after an error"
    );
}

/// A DUT that prints what EEMBC's reference `ee_lib` prints (internally_implemented.cpp).
fn scripted_dut(l: TcpListener) {
    let (mut s, _) = l.accept().unwrap();
    s.write_all(b"m-timestamp-mode-performance\r\nm-init-done\r\nm-ready\r\n")
        .unwrap();
    let mut cmd = Vec::new();
    let mut b = [0u8; 1];
    let mut expect = 0usize;
    let mut got = 0usize;
    while s.read(&mut b).unwrap_or(0) == 1 {
        if b[0] != b'%' {
            cmd.push(b[0]);
            continue;
        }
        let c = String::from_utf8(std::mem::take(&mut cmd)).unwrap();
        let toks: Vec<&str> = c.split(' ').collect();
        let reply = match toks[..] {
            ["name"] => "m-name-dut-[unspecified]\r\n".to_string(),
            ["db", "load", n] => {
                expect = n.parse().unwrap();
                got = 0;
                format!("m-[Expecting {expect} bytes]\r\n")
            }
            ["db", hex] => {
                got += hex.len() / 2;
                if got == expect { "m-load-done\r\n".into() } else { String::new() }
            }
            ["infer", n, w] => format!(
                "m-warmup-start-{w}\r\nm-warmup-done\r\nm-infer-start-{n}\r\nm-lap-us-1000\r\nm-lap-us-4500\r\nm-infer-done\r\nm-results-[0.000,0.996,0.004]\r\n"
            ),
            ["results"] => "m-results-[0.000,0.996,0.004]\r\n".into(),
            _ => format!("e-[Unknown command: {}]\r\n", toks[0]),
        };
        s.write_all(reply.as_bytes()).unwrap();
        s.write_all(b"m-ready\r\n").unwrap();
    }
}

#[test]
fn our_driver_runs_a_reference_style_dut() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let th = std::thread::spawn(move || scripted_dut(l));
    let mut dut = MlperfDut::open(Box::new(
        Tcp::connect(addr, Duration::from_secs(2)).unwrap(),
    ))
    .unwrap();
    assert_eq!(dut.name().unwrap(), "unspecified");
    dut.load(&(0..100u8).collect::<Vec<_>>()).unwrap();
    let r = dut.infer(10, 2).unwrap();
    assert_eq!(r.results, vec![0.0, 0.996, 0.004]);
    assert_eq!(r.elapsed_us, 3500);
    match dut.command("launch") {
        Err(Error::Protocol { message, .. }) => {
            assert!(message.contains("e-[Unknown command: launch]"), "{message}")
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
    drop(dut);
    th.join().unwrap();
}
