//! Times the MNIST tutorial net (random weights): per-layer convolutions, then whole
//! inferences on the reference and fast kernels (best of 30 batches), plus a
//! DS-CNN-like depthwise layer; `mnist_timing profile N` runs N fast inferences only
//! (for `valgrind --tool=callgrind`):
//! `cargo run --release -p kernels-int8 --example mnist_timing`.

use kernels_int8::conv_2d::{
    conv_per_channel, conv_per_channel_fast, conv_scratch_len, ConvParams,
};
use kernels_int8::depthwise_conv_2d::{
    depthwise_conv_per_channel, depthwise_conv_per_channel_fast, depthwise_scratch_len,
    DepthwiseParams,
};
use kernels_int8::fully_connected::{fully_connected_fast, FullyConnectedParams};
use kernels_int8::max_pool_2d::{max_pool, PoolParams};
use kernels_int8::Dims4;
use std::time::Instant;

struct Conv {
    shape: Dims4,
    filter: Vec<i8>,
    bias: Vec<i32>,
    m: Vec<i32>,
    s: Vec<i32>,
}

impl Conv {
    /// Runs the layer on `x` into `o`: the fast kernel with `scratch`, else the reference.
    fn run(
        &self,
        p: &ConvParams,
        is: Dims4,
        x: &[i8],
        os: Dims4,
        o: &mut [i8],
        scratch: Option<&mut [i8]>,
    ) {
        let (m, s, f, b) = (&self.m, &self.s, &self.filter, Some(&self.bias[..]));
        match scratch {
            Some(scratch) => {
                conv_per_channel_fast(p, m, s, is, x, self.shape, f, b, os, o, scratch)
            }
            None => conv_per_channel(p, m, s, is, x, self.shape, f, b, os, o),
        }
    }
}

fn rng(seed: &mut u64) -> i8 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*seed >> 56) as i8
}

fn conv(seed: &mut u64, oc: usize, k: usize, ic: usize) -> Conv {
    let shape = Dims4::new(oc, k, k, ic);
    Conv {
        shape,
        filter: (0..shape.flat_size()).map(|_| rng(seed)).collect(),
        bias: (0..oc).map(|i| i as i32 * 100).collect(),
        m: vec![1_500_000_000; oc],
        s: vec![-9; oc],
    }
}

fn params() -> ConvParams {
    ConvParams {
        input_offset: 128,
        output_offset: -128,
        stride_w: 1,
        stride_h: 1,
        dilation_w: 1,
        dilation_h: 1,
        padding_w: 0,
        padding_h: 0,
        activation_min: -128,
        activation_max: 127,
    }
}

fn main() {
    let mut seed = 1u64;
    let c1 = conv(&mut seed, 8, 3, 1);
    let c2 = conv(&mut seed, 16, 3, 8);
    let c3 = conv(&mut seed, 32, 5, 16);
    let fc1: Vec<i8> = (0..64 * 32).map(|_| rng(&mut seed)).collect();
    let fc2: Vec<i8> = (0..10 * 64).map(|_| rng(&mut seed)).collect();
    let input: Vec<i8> = (0..28 * 28).map(|_| rng(&mut seed)).collect();
    let pool = PoolParams {
        stride_w: 2,
        stride_h: 2,
        filter_w: 2,
        filter_h: 2,
        padding_w: 0,
        padding_h: 0,
        activation_min: -128,
        activation_max: 127,
    };
    let fcp = FullyConnectedParams {
        input_offset: 128,
        weights_offset: 0,
        output_offset: -128,
        activation_min: -128,
        activation_max: 127,
    };
    let s0 = Dims4::new(1, 28, 28, 1);
    let s1 = Dims4::new(1, 26, 26, 8);
    let s1p = Dims4::new(1, 13, 13, 8);
    let s2 = Dims4::new(1, 11, 11, 16);
    let s2p = Dims4::new(1, 5, 5, 16);
    let s3 = Dims4::new(1, 1, 1, 32);
    let mut scratch = vec![
        0i8;
        conv_scratch_len(c1.shape, s1)
            .max(conv_scratch_len(c2.shape, s2))
            .max(conv_scratch_len(c3.shape, s3))
    ];
    let (mut a1, mut a1p, mut a2, mut a2p, mut a3) = (
        vec![0i8; s1.flat_size()],
        vec![0i8; s1p.flat_size()],
        vec![0i8; s2.flat_size()],
        vec![0i8; s2p.flat_size()],
        vec![0i8; 32],
    );
    let (mut f1, mut f2) = (vec![0i8; 64], vec![0i8; 10]);
    let profiling = std::env::args().nth(1).as_deref() == Some("profile");
    // Per-layer times of the three convolutions: reference, fast with the
    // recommended scratch, fast with a scratch of 8 im2col rows only.
    if !profiling {
        let p = params();
        let layers = [
            (&c1, s0, &input, s1),
            (&c2, s1p, &a1p, s2),
            (&c3, s2p, &a2p, s3),
        ];
        for (i, (c, is, x, os)) in layers.into_iter().enumerate() {
            let mut o = vec![0i8; os.flat_size()];
            let k = c.shape.h * c.shape.w * c.shape.c;
            // Best of 30 batches: robust to other processes on the machine.
            let time = |f: &mut dyn FnMut()| {
                let n = 200;
                (0..30)
                    .map(|_| {
                        let t = Instant::now();
                        for _ in 0..n {
                            f();
                        }
                        t.elapsed().as_secs_f64() / n as f64 * 1e6
                    })
                    .fold(f64::INFINITY, f64::min)
            };
            let r = time(&mut || c.run(&p, is, x, os, &mut o, None));
            let f = time(&mut || c.run(&p, is, x, os, &mut o, Some(&mut scratch)));
            let mut small = vec![0i8; 8 * k];
            let g = time(&mut || c.run(&p, is, x, os, &mut o, Some(&mut small)));
            println!(
                "conv{}: reference {r:.2} us, fast {f:.2} us, fast (small scratch) {g:.2} us",
                i + 1
            );
        }
        // A DS-CNN-like depthwise layer: 25x5x64, 3x3 SAME, depth multiplier 1.
        {
            let (xs, fs) = (Dims4::new(1, 25, 5, 64), Dims4::new(1, 3, 3, 64));
            let x: Vec<i8> = (0..xs.flat_size()).map(|_| rng(&mut seed)).collect();
            let f: Vec<i8> = (0..fs.flat_size()).map(|_| rng(&mut seed)).collect();
            let bias: Vec<i32> = (0..64).map(|i| i * 10).collect();
            let (m, s) = (vec![1_500_000_000; 64], vec![-9; 64]);
            let dp = DepthwiseParams {
                input_offset: 128,
                output_offset: -128,
                stride_w: 1,
                stride_h: 1,
                dilation_w: 1,
                dilation_h: 1,
                padding_w: 1,
                padding_h: 1,
                depth_multiplier: 1,
                activation_min: -128,
                activation_max: 127,
            };
            let mut y = vec![0i8; xs.flat_size()];
            for (name, f_fast) in [("reference", false), ("fast", true)] {
                let t = Instant::now();
                for _ in 0..1_000 {
                    let b = Some(bias.as_slice());
                    if f_fast {
                        let mut scratch = vec![0i8; depthwise_scratch_len(&dp, fs, xs)];
                        let sc = &mut scratch;
                        depthwise_conv_per_channel_fast(
                            &dp, &m, &s, xs, &x, fs, &f, b, xs, &mut y, sc,
                        );
                    } else {
                        depthwise_conv_per_channel(&dp, &m, &s, xs, &x, fs, &f, b, xs, &mut y);
                    }
                }
                println!(
                    "depthwise 25x5x64 3x3 {name}: {:.2} us",
                    t.elapsed().as_secs_f64() / 1_000.0 * 1e6
                );
            }
        }
        let t = Instant::now();
        for _ in 0..5_000 {
            max_pool(&pool, s1, &a1, s1p, &mut a1p);
        }
        println!("pool1: {:.2} us", t.elapsed().as_secs_f64() / 5_000.0 * 1e6);
        let t = Instant::now();
        for _ in 0..5_000 {
            fully_connected_fast(&fcp, &[1_500_000_000], &[-9], 32, &a3, &fc1, None, &mut f1);
        }
        println!("fc1: {:.2} us", t.elapsed().as_secs_f64() / 5_000.0 * 1e6);
    }
    let mut run = |fast: bool| {
        let p = params();
        let c = |c: &Conv, is: Dims4, i: &[i8], os: Dims4, o: &mut [i8], scratch: &mut [i8]| {
            c.run(&p, is, i, os, o, fast.then_some(scratch))
        };
        c(&c1, s0, &input, s1, &mut a1, &mut scratch);
        max_pool(&pool, s1, &a1, s1p, &mut a1p);
        c(&c2, s1p, &a1p, s2, &mut a2, &mut scratch);
        max_pool(&pool, s2, &a2, s2p, &mut a2p);
        c(&c3, s2p, &a2p, s3, &mut a3, &mut scratch);
        fully_connected_fast(&fcp, &[1_500_000_000], &[-9], 32, &a3, &fc1, None, &mut f1);
        fully_connected_fast(&fcp, &[1_500_000_000], &[-9], 64, &f1, &fc2, None, &mut f2);
        f2[0]
    };
    // `mnist_timing profile N`: only N fast inferences (for callgrind).
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("profile") {
        let n: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(1000);
        let mut sink = 0i32;
        for _ in 0..n {
            sink += i32::from(run(true));
        }
        println!("{n} fast inferences (sink {sink})");
        return;
    }
    for fast in [false, true] {
        let mut sink = 0i32;
        for _ in 0..200 {
            sink += i32::from(run(fast));
        }
        // Best of 30 batches: robust to other processes on the machine.
        let n = if fast { 500 } else { 50 };
        let mut best = f64::INFINITY;
        for _ in 0..30 {
            let t = Instant::now();
            for _ in 0..n {
                sink += i32::from(run(fast));
            }
            best = best.min(t.elapsed().as_secs_f64() / n as f64);
        }
        println!(
            "{}: {:.1} us/inference, {:.0} inferences/s (sink {sink})",
            if fast { "fast" } else { "reference" },
            best * 1e6,
            1.0 / best
        );
    }
}
