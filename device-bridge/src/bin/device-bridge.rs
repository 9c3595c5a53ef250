//! `device-bridge`: list boards, run a model on a board, check a board against the host.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use device_bridge::boards::{self, OpenOptions};
use device_bridge::check::{check, HostModel};
use device_bridge::host_board::{HostBoard, HostBoardConfig};
use device_bridge::npy;

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
            let samples = host
                .samples(&batch)
                .with_context(|| format!("{}", input.display()))?;
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
        } => {
            let bytes = read_model(&model)?;
            let batch = npy::read(&input)?;
            let mut b = open(&board, &model)?;
            let report = check(&mut b.device, &bytes, &batch)
                .with_context(|| format!("checking {}", model.display()))?;
            print!("{report}");
            Ok(report.mismatched_samples == 0)
        }
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
