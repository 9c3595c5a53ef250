//! `workbench bench depthwise`: our depthwise op against candle's grouped conv2d.

use super::depthwise::{bench_depthwise, kws_cases};
use anyhow::Result;

/// Times the keyword-spotting models' depthwise layers and prints a table.
pub fn run(batch: usize, iters: usize) -> Result<()> {
    let rows = bench_depthwise(&kws_cases(batch), iters)?;
    println!("forward + backward, f32, batch {batch}, median of {iters}");
    println!(
        "{:<42} {:>10} {:>12} {:>8} {:>10}",
        "layer", "ours ms", "candle ms", "speedup", "max diff"
    );
    for r in rows {
        println!(
            "{:<42} {:>10.2} {:>12.2} {:>7.1}x {:>10.1e}",
            r.case.name,
            r.ours_ms,
            r.candle_ms,
            r.speedup(),
            r.max_abs_diff
        );
    }
    Ok(())
}
