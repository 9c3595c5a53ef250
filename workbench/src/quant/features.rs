//! A per-layer dump of the PACT integer network's activations for one input,
//! in the text format QuantLib's DORY exporter (`dump_features`) writes to
//! check a deployment layer by layer:
//!
//! - `input.txt`: the integer input;
//! - `out_layer{i}.txt`: the output of the `i`-th requantized layer (DORY
//!   hooks its requantization modules), `i` from 0;
//! - `out_layer{k}.txt` and `output.txt`: the network's output accumulators
//!   (`k` = number of requantized layers).
//!
//! Each file starts with `# <name> (shape [H, W, C]),` and then holds one
//! integer per line followed by a comma. Feature maps are written HWC, as
//! DORY expects them (ours are CHW); vectors as they are.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::f2t::PactIntegerNetwork;
use crate::{Error, Result};

/// The text of one dump file: a `[C, H, W]` map is written HWC, any other shape as it is.
pub fn feature_text(name: &str, shape: &[usize], values: &[i32]) -> String {
    let mut s = String::with_capacity(values.len() * 5 + 64);
    if let [c, h, w] = *shape {
        let _ = writeln!(s, "# {name} (shape [{h}, {w}, {c}]),");
        for y in 0..h {
            for x in 0..w {
                for ch in 0..c {
                    let _ = writeln!(s, "{},", values[(ch * h + y) * w + x]);
                }
            }
        }
    } else {
        let _ = writeln!(s, "# {name} (shape {shape:?}),");
        for v in values {
            let _ = writeln!(s, "{v},");
        }
    }
    s
}

/// Writes the dump of `net` on one integer `input` into `dir` (see the module docs); returns the paths written.
pub fn dump_features(net: &PactIntegerNetwork, input: &[i32], dir: &Path) -> Result<Vec<PathBuf>> {
    let outs = net.run_layers(input)?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut written = Vec::new();
    let mut put = |file: String, text: String| -> Result<()> {
        let p = dir.join(file);
        std::fs::write(&p, text).map_err(|e| Error::io(&p, e))?;
        written.push(p);
        Ok(())
    };
    put(
        "input.txt".into(),
        feature_text("input", &net.input_shape, input),
    )?;
    let mut k = 0;
    for (l, out) in net.layers.iter().zip(&outs) {
        if l.requant.is_some() {
            put(
                format!("out_layer{k}.txt"),
                feature_text(&l.name, &l.out_shape, out),
            )?;
            k += 1;
        }
    }
    let (last, out) = net
        .layers
        .last()
        .zip(outs.last())
        .ok_or_else(|| Error::Model("dump features: the network has no layers".into()))?;
    let text = feature_text("output", &last.out_shape, out);
    put(format!("out_layer{k}.txt"), text.clone())?;
    put("output.txt".into(), text)?;
    Ok(written)
}

/// Reads the values of a dump file (the header and the trailing commas dropped).
pub fn read_features(path: &Path) -> Result<Vec<i64>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            l.trim()
                .trim_end_matches(',')
                .parse()
                .map_err(|_| Error::bad_file(path, format!("value {i}: {l:?} is not an integer")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_are_written_hwc() {
        // two channels of 1 x 2: CHW [1, 2 | 3, 4] is HWC 1, 3, 2, 4
        let t = feature_text("conv1", &[2, 1, 2], &[1, 2, 3, 4]);
        assert_eq!(t, "# conv1 (shape [1, 2, 2]),\n1,\n3,\n2,\n4,\n");
        assert_eq!(
            feature_text("output", &[2], &[-7, 9]),
            "# output (shape [2]),\n-7,\n9,\n"
        );
        let p = std::env::temp_dir().join(format!("features-{}.txt", std::process::id()));
        std::fs::write(&p, t).unwrap();
        assert_eq!(read_features(&p).unwrap(), [1, 3, 2, 4]);
        std::fs::write(&p, "# x\n1,\nz,\n").unwrap();
        let e = read_features(&p).unwrap_err().to_string();
        assert!(e.contains("value 1"), "{e}");
        let _ = std::fs::remove_file(&p);
    }
}
