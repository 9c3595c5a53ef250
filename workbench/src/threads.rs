//! Thread settings for training and inference, applied once at start.
//!
//! The workbench's layers run on rayon's global pool. candle 0.11 also runs
//! element-wise ops over 64k elements on a separate spinning "barrier pool"
//! sized by `CANDLE_NUM_THREADS` when it is first used; beside rayon's pool
//! that oversubscribes the cores (on 2 cores, training ran 3-4x slower). And
//! candle's matmul asks for its thread count on every call, which without
//! `RAYON_NUM_THREADS` parses /proc/cpuinfo each time (about 5% of a step).
//!
//! [`configure`] sets both once. Call it at the start of a program or a
//! notebook, before the first tensor op and before other threads start
//! (it sets environment variables). Without it everything still computes
//! the same numbers, only slower.
//!
//! ```
//! workbench::threads::configure(&workbench::threads::Threads::default());
//! ```

use std::sync::OnceLock;

/// How many threads the workbench's kernels use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threads {
    /// rayon's pool size; `None` keeps rayon's default (`RAYON_NUM_THREADS`, else one per core).
    pub rayon: Option<usize>,
    /// candle's element-wise pool; 1 (the default) runs them on the calling thread.
    pub candle_elementwise: usize,
}

impl Default for Threads {
    fn default() -> Self {
        Threads {
            rayon: None,
            candle_elementwise: 1,
        }
    }
}

static APPLIED: OnceLock<Threads> = OnceLock::new();

/// Applies `threads` on the first call and returns what is in effect (later calls change nothing).
///
/// Environment variables the user already set (`CANDLE_NUM_THREADS`,
/// `RAYON_NUM_THREADS`) win over the defaults.
pub fn configure(threads: &Threads) -> Threads {
    *APPLIED.get_or_init(|| {
        if let Some(n) = threads.rayon {
            // Fails only if the global pool already exists; its size then stands.
            let _ = rayon::ThreadPoolBuilder::new()
                .num_threads(n.max(1))
                .build_global();
        }
        let rayon = rayon::current_num_threads();
        if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
            std::env::set_var(
                "CANDLE_NUM_THREADS",
                threads.candle_elementwise.max(1).to_string(),
            );
        }
        if std::env::var_os("RAYON_NUM_THREADS").is_none() {
            std::env::set_var("RAYON_NUM_THREADS", rayon.to_string());
        }
        let candle = std::env::var("CANDLE_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(threads.candle_elementwise);
        Threads {
            rayon: Some(rayon),
            candle_elementwise: candle,
        }
    })
}
