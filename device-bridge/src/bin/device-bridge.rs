//! `device-bridge`: list boards, run a model on a board, check a board against the host.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use device_bridge::boards::{self, OpenOptions};
use device_bridge::check::{check, HostModel};
use device_bridge::host_board::{HostBoard, HostBoardConfig};
use device_bridge::npy;
use workbench_tflite::ParamValue;

#[derive(Parser)]
#[command(
    name = "device-bridge",
    about = "Push int8 .tflite models to boards and run them"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args)]
struct BoardArgs {
    /// host, host-pty, qemu-mps2-an386, tcp:HOST:PORT or serial:PATH[@BAUD].
    #[arg(long)]
    board: String,
    /// Serial baud rate.
    #[arg(long, default_value_t = 115_200)]
    baud: u32,
    /// QEMU only: preload the model with `-device loader` instead of pushing it over the UART.
    #[arg(long)]
    preload: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// What the bridge can reach: built-in boards, the emulator, serial ports.
    Boards,
    /// Serve the host board (device-bridge-board logic) to other programs until killed.
    ServeHost {
        /// TCP port on 127.0.0.1 (0: any free port).
        #[arg(long, default_value_t = 0, conflicts_with = "pty")]
        port: u16,
        /// Serve on a new pseudo-terminal instead and print its path.
        #[arg(long)]
        pty: bool,
    },
    /// Run a batch on a board and save the outputs.
    Run {
        #[command(flatten)]
        board: BoardArgs,
        /// The int8 .tflite model.
        #[arg(long)]
        model: PathBuf,
        /// Input batch (.npy, int8 or float32, [N, ...input shape]).
        #[arg(long)]
        input: PathBuf,
        /// Where to write the outputs (.npy).
        #[arg(long)]
        output: PathBuf,
        /// Print per-layer counts of the last inference.
        #[arg(long)]
        profile: bool,
    },
    /// Run a batch on the host and on a board; report mismatches, counts, push speed, memory.
    Check {
        #[command(flatten)]
        board: BoardArgs,
        /// The int8 .tflite model.
        #[arg(long)]
        model: PathBuf,
        /// Input batch (.npy).
        #[arg(long)]
        input: PathBuf,
        /// Print one JSON object (mismatches, counts per inference, per-layer rows,
        /// counts per MAC by op type, push, memory) instead of the text summary.
        #[arg(long)]
        json: bool,
    },
}

fn open(b: &BoardArgs, model: &std::path::Path) -> anyhow::Result<boards::OpenBoard> {
    let opts = OpenOptions {
        baud: Some(b.baud),
        preload: b.preload.then(|| model.to_path_buf()),
    };
    boards::open(&b.board, &opts).with_context(|| format!("opening board {}", b.board))
}

fn read_model(p: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(p).with_context(|| format!("reading {}", p.display()))
}

fn run(cli: Cli) -> anyhow::Result<bool> {
    match cli.cmd {
        Cmd::Boards => {
            for b in boards::list() {
                println!("{:<24} {}", b.name, b.note);
            }
            Ok(true)
        }
        Cmd::ServeHost { port, pty } => {
            let cfg = HostBoardConfig::default();
            let board = if pty {
                let (board, path) = HostBoard::spawn_pty_device(cfg)?;
                println!("host board on {path}");
                board
            } else {
                let listener = std::net::TcpListener::bind(("127.0.0.1", port))
                    .with_context(|| format!("binding 127.0.0.1:{port}"))?;
                let board = HostBoard::serve(listener, cfg)?;
                println!("host board on tcp:{}", board.addr().expect("tcp board"));
                board
            };
            board.join();
            Ok(true)
        }
        Cmd::Run {
            board,
            model,
            input,
            output,
            profile,
        } => {
            let bytes = read_model(&model)?;
            let host = HostModel::new(&bytes).with_context(|| format!("{}", model.display()))?;
            let batch = npy::read(&input)?;
            let (samples, prep) = host
                .prepare(&batch)
                .with_context(|| format!("{}", input.display()))?;
            if let Some(prep) = prep {
                eprintln!("input: {prep}");
            }
            let mut b = open(&board, &model)?;
            let push = b.device.push_model(&bytes)?;
            eprintln!(
                "pushed {} bytes in {:.3} s ({:.1} KB/s)",
                push.bytes,
                push.seconds,
                push.throughput() / 1000.0
            );
            let run = b.device.run_batch(&samples, profile)?;
            npy::write(&output, &host.stack(&run.outputs))?;
            let unit = b.device.info().counter.unit();
            let mean = run.counts.iter().sum::<u64>() as f64 / run.counts.len().max(1) as f64;
            println!(
                "{} samples, {mean:.0} {unit} per inference; outputs in {}",
                samples.len(),
                output.display()
            );
            if profile {
                let names: Vec<&str> = host.graph().nodes.iter().map(|n| n.op.name()).collect();
                for (i, (_, c)) in run.profile.iter().enumerate() {
                    println!(
                        "  {i:>3} {:<18} {c:>12} {unit}",
                        names.get(i).unwrap_or(&"?")
                    );
                }
            }
            Ok(true)
        }
        Cmd::Check {
            board,
            model,
            input,
            json,
        } => {
            let bytes = read_model(&model)?;
            let batch = npy::read(&input)?;
            let mut b = open(&board, &model)?;
            let report = check(&mut b.device, &bytes, &batch)
                .with_context(|| format!("checking {}", model.display()))?;
            if json {
                println!("{}", check_json(&report, &model));
            } else {
                print!("{report}");
            }
            Ok(report.mismatched_samples == 0)
        }
    }
}

/// The `check --json` object: the report's numbers under stable keys.
fn check_json(r: &device_bridge::check::CheckReport, model: &std::path::Path) -> serde_json::Value {
    use serde_json::json;
    let per_unit = format!("{}_per_inference", r.unit);
    let layers: Vec<_> = r
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            json!({
                "index": i,
                "op": l.op,
                "count": l.count,
                "macs": l.macs,
                "per_mac": (l.macs > 0).then(|| l.count as f64 / l.macs as f64),
            })
        })
        .collect();
    let mut ops: Vec<&str> = r
        .layers
        .iter()
        .filter(|l| l.macs > 0)
        .map(|l| l.op.as_str())
        .collect();
    ops.sort_unstable();
    ops.dedup();
    let per_mac: serde_json::Map<String, serde_json::Value> = ops
        .into_iter()
        .filter_map(|op| Some((op.to_string(), json!(r.per_mac(op)?))))
        .collect();
    let params: serde_json::Map<String, serde_json::Value> = r
        .params
        .iter()
        .map(|(k, v)| (k.to_string(), param_json(v)))
        .collect();
    let mut o = json!({
        "model": model.display().to_string(),
        "board": r.board,
        "arithmetic": r.flavor.name(),
        "clock_hz": r.clock_hz,
        "unit": r.unit,
        "samples": r.samples,
        "mismatches": r.mismatched_values,
        "mismatched_samples": r.mismatched_samples,
        "output_values": r.output_values(),
        "counts": r.counts,
        "layers": layers,
        "push": {
            "bytes": r.push.bytes,
            "seconds": r.push.seconds,
            "restarts": r.push.restarts,
        },
        "flash": { "used": r.push.model.model_bytes, "capacity": r.model_capacity },
        "params": params,
        "input": r.input.as_ref().map(|p| json!({
            "normalization": p.normalization.to_string(),
            "quantized": p.quantized.map(|(scale, zero_point)| json!({
                "scale": scale,
                "zero_point": zero_point,
            })),
        })),
        "arena": {
            "used": r.push.model.arena_used,
            "capacity": r.arena_capacity,
            "plan_bytes": r.push.model.plan_bytes,
        },
    });
    // `instructions_per_inference` and `instructions_per_mac` (or cycles, ns: the board's unit).
    o[per_unit] = json!(r.mean_count());
    o[format!("{}_per_mac", r.unit)] = json!(per_mac);
    o
}

/// A model parameter as JSON: numbers, bools, strings, lists; bytes as a list of numbers.
fn param_json(v: &ParamValue) -> serde_json::Value {
    use serde_json::json;
    match v {
        ParamValue::Bool(b) => json!(b),
        ParamValue::I8(i) => json!(i),
        ParamValue::U8(i) => json!(i),
        ParamValue::I16(i) => json!(i),
        ParamValue::U16(i) => json!(i),
        ParamValue::I32(i) => json!(i),
        ParamValue::U32(i) => json!(i),
        ParamValue::I64(i) => json!(i),
        ParamValue::U64(i) => json!(i),
        ParamValue::F32(x) => json!(x),
        ParamValue::F64(x) => json!(x),
        ParamValue::Str(s) => json!(s),
        ParamValue::StrList(l) => json!(l),
        ParamValue::I32List(l) => json!(l),
        ParamValue::F32List(l) => json!(l),
        ParamValue::Bytes(b) => json!(b),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("device-bridge: outputs differ from the host");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("device-bridge: {e:#}");
            ExitCode::from(2)
        }
    }
}
