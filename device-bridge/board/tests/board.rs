//! The board fed bytes directly (no transport): frames split anywhere and
//! surrounded by garbage are answered; the arena planner reuses memory.

use device_bridge_board::{Board, Clock, Config, Tx};
use device_bridge_protocol::cobs::{Accumulator, Feed};
use device_bridge_protocol::frame::{self, MAX_FRAME, MAX_WIRE};
use device_bridge_protocol::msg::{Counter, Flavor, Request, Response};
use device_bridge_protocol::{MAX_PAYLOAD, PROTOCOL_VERSION};

struct Count(u64);
impl Clock for Count {
    fn now(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}

#[derive(Default)]
struct Sink(Vec<u8>);
impl Tx for Sink {
    fn write(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

fn board(model: usize, arena: usize) -> Board<Vec<u8>, Vec<u8>, Count> {
    let cfg = Config {
        name: "test",
        cpu: "none",
        clock_hz: 1,
        counter: Counter::Cycles,
        flavor: Flavor::LiteRt,
    };
    Board::new(cfg, vec![0; model], vec![0; arena], Count(0))
}

/// A request as the host sends it: a leading delimiter ends any garbage, then the frame.
fn wire(seq: u16, req: &Request<'_>) -> Vec<u8> {
    let mut p = [0u8; MAX_PAYLOAD];
    let (tag, n) = req.encode(&mut p);
    let mut raw = [0u8; MAX_FRAME];
    let mut w = vec![0u8; MAX_WIRE + 1];
    let len = frame::encode(PROTOCOL_VERSION, seq, tag, &p[..n], &mut raw, &mut w[1..]);
    w.truncate(len + 1);
    w
}

/// Every reply frame in `bytes`, as (seq, tag).
fn replies(bytes: &[u8]) -> Vec<(u16, u8)> {
    let mut acc = Accumulator::<MAX_WIRE>::new();
    let mut v = Vec::new();
    for &b in bytes {
        if let Feed::Frame(f) = acc.feed(b) {
            if let Ok(fr) = frame::parse(f) {
                assert!(Response::decode(fr.tag, fr.payload).is_ok());
                v.push((fr.seq, fr.tag));
            }
        }
    }
    v
}

#[test]
fn garbage_around_frames_is_skipped() {
    let mut b = board(1024, 1024);
    let mut tx = Sink::default();
    let mut input = b"\x13\x37noise\x00\xff\xfe".to_vec();
    input.extend(wire(1, &Request::Hello));
    input.extend([0x42, 0x00, 0x00]);
    input.extend(wire(2, &Request::Reset));
    for byte in input {
        b.on_byte(byte, &mut tx);
    }
    assert_eq!(replies(&tx.0), vec![(1, 0x81), (2, 0x85)]);
    assert!(b.dropped_frames >= 2);
}

#[test]
fn corrupted_frame_gets_no_reply() {
    let mut b = board(1024, 1024);
    let mut tx = Sink::default();
    let mut w = wire(5, &Request::Hello);
    w[4] ^= 0x10;
    for byte in w {
        b.on_byte(byte, &mut tx);
    }
    assert!(replies(&tx.0).is_empty());
}

#[test]
fn arena_planner_reuses_dead_activations() {
    let model = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/refs/conv_channels.tflite"
    ))
    .unwrap();
    let plan =
        device_bridge_board::model::prepare(&model, 1 << 20, workbench_tflite::Flavor::LiteRt)
            .unwrap();
    // conv_channels: 9x8 activations of 1, 16, 3, 32 channels, then 5x6x7 (int8).
    let all = 9 * 8 * (1 + 16 + 3 + 32) + 5 * 6 * 7;
    assert!(plan.activations < all, "{} of {all}", plan.activations);
    // At least the largest producer/consumer pair must be live at once.
    assert!(plan.activations >= 9 * 8 * (3 + 32));
    let e = device_bridge_board::model::prepare(
        &model,
        plan.activations + plan.scratch - 1,
        workbench_tflite::Flavor::LiteRt,
    )
    .unwrap_err();
    assert_eq!(e.code, device_bridge_board::ErrorCode::ArenaTooSmall);
}

/// xorshift64: reproducible pseudo-random bytes.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn mutated_models_are_rejected_or_run_without_panics() {
    // Bad bytes must give an error or a runnable plan, never a panic or an out-of-bounds access.
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut ok, mut rejected) = (0, 0);
    for name in [
        "conv_channels",
        "mnist_tiny",
        "add_residual",
        "float_io",
        "reshape_softmax",
    ] {
        let path = format!(
            "{}/../../tests/refs/{name}.tflite",
            env!("CARGO_MANIFEST_DIR")
        );
        let model = std::fs::read(path).unwrap();
        for _ in 0..150 {
            let mut m = model.clone();
            for _ in 0..1 + rng.next() % 4 {
                let i = (rng.next() % m.len() as u64) as usize;
                m[i] = rng.next() as u8;
            }
            match device_bridge_board::model::prepare(&m, 1 << 20, workbench_tflite::Flavor::Micro)
            {
                Ok(plan) => {
                    ok += 1;
                    let mut arena = vec![0u8; plan.activations + plan.scratch];
                    for i in 0..plan.ops() {
                        plan.run_step(i, &m, &mut arena);
                    }
                }
                Err(e) => {
                    rejected += 1;
                    assert!(!e.message().is_empty());
                }
            }
        }
    }
    assert!(ok > 0 && rejected > 0, "ok {ok}, rejected {rejected}");
}

#[test]
fn random_bytes_never_panic_the_board() {
    let mut rng = Rng(42);
    let mut b = board(4096, 4096);
    let mut tx = Sink::default();
    for _ in 0..200_000 {
        let r = rng.next();
        // Mostly noise, some delimiters and MLPerf terminators.
        let byte = match r % 64 {
            0 => 0,
            1 => b'%',
            _ => (r >> 8) as u8,
        };
        b.on_byte(byte, &mut tx);
    }
    b.on_byte(0, &mut tx);
    for byte in wire(9, &Request::Hello) {
        b.on_byte(byte, &mut tx);
    }
    assert_eq!(replies(&tx.0).last(), Some(&(9, 0x81)));
}
