//! The quantization debugger's page: model metrics, the two bar charts of TFLite's debugger
//! tutorial (range and rmse/scale per layer), the layer table with flags, and a layer explorer
//! (float against int8 histograms of the output, the error, the filter's per-channel ranges
//! and their quantization error). Self-contained: inline SVG and one small script; without
//! the script every layer's panel is shown.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::evcxr;
use super::html::{escape, sig4};
use crate::npy::NpyArray;
use crate::quant::debug::{Debugger, LayerStats, ModelMetrics, HIST_BINS};
use crate::Result;

/// Uniform rounding's rmse/scale, `1 / sqrt(12)`.
pub const ROUNDING_RMSE_OVER_SCALE: f64 = 0.288_675_134_594_812_9;

/// A debugger report ready to show: the per-layer rows and the model metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct DebugReport {
    /// One row per quantized op output, in op order.
    pub rows: Vec<LayerStats>,
    /// Float against int8 over the same data.
    pub metrics: ModelMetrics,
}

impl Debugger {
    /// The report and model metrics over `data` (labels: one class per sample), to show inline.
    pub fn explorer(&self, data: &[NpyArray], labels: Option<&[usize]>) -> Result<DebugReport> {
        Ok(DebugReport {
            rows: self.report(data)?,
            metrics: self.metrics(data, labels)?,
        })
    }
}

/// Why a layer deserves a look, from its statistics (empty when nothing stands out).
pub fn flags(r: &LayerStats) -> Vec<&'static str> {
    let mut f = Vec::new();
    if r.rmse_over_scale > 0.5 {
        f.push("error above rounding");
    }
    if r.sqnr_db.is_finite() && r.sqnr_db < 20.0 {
        f.push("SQNR < 20 dB");
    }
    if r.clipped_fraction > 0.0 {
        f.push("clipping");
    }
    let total: u64 = r.value_histogram.iter().sum();
    if total > 0 {
        let used = r.value_histogram.iter().filter(|&&c| c > 0).count();
        if used * 4 < HIST_BINS {
            f.push("range mostly unused");
        }
    }
    if let Some(w) = &r.weights {
        if w.rmse_over_scale.iter().any(|&v| v > 0.5) {
            f.push("weights quantize badly");
        }
    }
    f
}

/// Distinguishes the reports one cell shows.
static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

const STYLE: &str = ".wbdbg{font-family:sans-serif}.wbdbg table{border-collapse:collapse}.wbdbg td,.wbdbg th{padding:2px 8px;border-bottom:1px solid #ddd;font-size:13px;text-align:left}.wbdbg .flag{color:#b00;font-weight:bold}.wbdbg .fig{display:inline-block;margin:0 2em 1em 0;vertical-align:top;font-size:12px}";

/// Panel switching: the select (or `#layer=N` in the page address) shows one layer's panel.
const SCRIPT: &str = "(function(root){var sel=root.querySelector('select');var panels=root.querySelectorAll('.wb-panel');function show(i){for(var p of panels){p.hidden=(p.dataset.layer!==String(i));}sel.value=String(i);}sel.addEventListener('change',function(){show(sel.value)});var m=/layer=(\\d+)/.exec(location.hash);show(m&&+m[1]<panels.length?+m[1]:0);})";

impl DebugReport {
    /// The report as one HTML fragment (for a notebook cell).
    pub fn to_html(&self) -> String {
        // Unique on the page even across notebook cells (each cell has its own copy of NEXT_ID).
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let id = format!(
            "wbdbg-{}-{nanos:x}-{}",
            std::process::id(),
            NEXT_ID.fetch_add(1, Ordering::Relaxed)
        );
        let m = &self.metrics;
        let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.2}%", 100.0 * v));
        let mut s = format!(r#"<div class="wbdbg" id="{id}"><style>{STYLE}</style>"#);
        s.push_str(&format!(
            "<p>{} samples &middot; float accuracy {} &middot; int8 accuracy {} &middot; top-1 agreement {:.2}% &middot; output RMSE {} &middot; output SQNR {:.1} dB</p>",
            m.samples,
            pct(m.float_accuracy),
            pct(m.int8_accuracy),
            100.0 * m.top1_agreement,
            sig4(m.output_rmse),
            m.output_sqnr_db
        ));
        let labels: Vec<String> = (0..self.rows.len()).map(|i| i.to_string()).collect();
        let ranges: Vec<f64> = self.rows.iter().map(|r| r.range).collect();
        let ros: Vec<f64> = self.rows.iter().map(|r| r.rmse_over_scale).collect();
        s.push_str(&figure(
            "range (255 &times; scale) per layer",
            &bar_chart(&labels, &ranges, None, "#4a7bd0"),
        ));
        s.push_str(&figure(
            "rmse/scale per layer (dashed: rounding alone, 0.289)",
            &bar_chart(&labels, &ros, Some(ROUNDING_RMSE_OVER_SCALE), "#d0604a"),
        ));
        s.push_str("<table><tr><th>#</th><th>op</th><th>tensor</th><th>scale</th><th>zero point</th><th>range</th><th>rmse/scale</th><th>SQNR dB</th><th>propagated RMSE</th><th>flags</th></tr>");
        for (i, r) in self.rows.iter().enumerate() {
            s.push_str(&format!(
                r#"<tr><td>{i}</td><td>{}</td><td title="{}">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{:.1}</td><td>{}</td><td class="flag">{}</td></tr>"#,
                r.op_name,
                escape(&r.tensor_name),
                escape(&short(&r.tensor_name)),
                sig4(r.scale),
                r.zero_point,
                sig4(r.range),
                r.rmse_over_scale,
                r.sqnr_db,
                sig4(r.propagated_rmse),
                flags(r).join(", ")
            ));
        }
        s.push_str("</table><h3>Layer explorer</h3><p>Layer: <select>");
        for (i, r) in self.rows.iter().enumerate() {
            s.push_str(&format!(
                r#"<option value="{i}">{i} {} {}</option>"#,
                r.op_name,
                escape(&short(&r.tensor_name))
            ));
        }
        s.push_str("</select></p>");
        for (i, r) in self.rows.iter().enumerate() {
            s.push_str(&panel(i, r));
        }
        s.push_str(&format!(
            "<script>{SCRIPT}(document.getElementById('{id}'));</script></div>"
        ));
        s
    }

    /// The report as a whole page (`quant_report.html`), loading nothing.
    pub fn page(&self) -> String {
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Quantization report</title></head><body><h1>Quantization report</h1>{}</body></html>\n",
            self.to_html()
        )
    }

    /// Shows the report in an evcxr notebook.
    pub fn evcxr_display(&self) {
        evcxr::print_html(&self.to_html());
    }
}

/// One layer's panel: output histograms (float and int8), the error, and the filter.
fn panel(i: usize, r: &LayerStats) -> String {
    let lo = r.scale * (-128 - r.zero_point) as f64;
    let hi = r.scale * (127 - r.zero_point) as f64;
    let mut s = format!(
        r#"<div class="wb-panel" data-layer="{i}"><p><b>{i} {}</b> {} &middot; rmse/scale {:.3} &middot; max |error| {} &middot; mean error {} &middot; clipped {:.2}%</p>"#,
        r.op_name,
        escape(&r.tensor_name),
        r.rmse_over_scale,
        sig4(r.max_abs_error),
        sig4(r.mean_error),
        100.0 * r.clipped_fraction
    );
    s.push_str(&figure(
        "output values: float reference (blue) and dequantized int8 (orange)",
        &histograms(
            &[
                (&r.value_histogram, "#4a7bd0"),
                (&r.int8_histogram, "#e08a2c"),
            ],
            lo,
            hi,
        ),
    ));
    s.push_str(&figure(
        "errors (int8 &minus; float) over &plusmn;2 scale",
        &histograms(
            &[(&r.error_histogram, "#d0604a")],
            -2.0 * r.scale,
            2.0 * r.scale,
        ),
    ));
    if let Some(w) = &r.weights {
        let labels: Vec<String> = (0..w.min.len()).map(|c| c.to_string()).collect();
        s.push_str(&figure(
            &format!("{}: per-channel range [min, max]", escape(&short(&w.name))),
            &range_chart(&w.min, &w.max),
        ));
        s.push_str(&figure(
            "filter rmse/scale per channel (dashed: 0.289)",
            &bar_chart(
                &labels,
                &w.rmse_over_scale,
                Some(ROUNDING_RMSE_OVER_SCALE),
                "#d0604a",
            ),
        ));
    }
    s.push_str("</div>");
    s
}

fn figure(title: &str, svg: &str) -> String {
    format!(r#"<div class="fig"><div>{title}</div>{svg}</div>"#)
}

const W: f64 = 360.0;
const H: f64 = 110.0;

fn svg_open() -> String {
    format!(
        r#"<svg class="wb-plot" width="{W}" height="{}" xmlns="http://www.w3.org/2000/svg">"#,
        H + 16.0
    )
}

/// Bars of `values` (non-finite drawn as 0), an optional dashed reference line.
fn bar_chart(labels: &[String], values: &[f64], reference: Option<f64>, colour: &str) -> String {
    let finite = |v: f64| if v.is_finite() { v.max(0.0) } else { 0.0 };
    let max = values
        .iter()
        .map(|&v| finite(v))
        .chain(reference)
        .fold(0.0, f64::max)
        .max(1e-30);
    let bw = W / values.len().max(1) as f64;
    let mut s = svg_open();
    for (i, (&v, l)) in values.iter().zip(labels).enumerate() {
        let bh = finite(v) / max * H;
        s.push_str(&format!(
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}" fill="{colour}"><title>{l}: {}</title></rect>"#,
            i as f64 * bw,
            H - bh,
            (bw - 1.0).max(0.5),
            sig4(v)
        ));
    }
    if let Some(r) = reference {
        let y = H - r / max * H;
        s.push_str(&format!(
            r##"<line x1="0" x2="{W}" y1="{y:.1}" y2="{y:.1}" stroke="#333" stroke-dasharray="4 3"/>"##
        ));
    }
    s.push_str(&format!(
        r#"<text x="0" y="{}" font-size="10">max {}</text></svg>"#,
        H + 13.0,
        sig4(max)
    ));
    s
}

/// Overlaid histograms (same bins), the axis ends labelled.
fn histograms(series: &[(&Vec<u64>, &str)], lo: f64, hi: f64) -> String {
    let max = series
        .iter()
        .flat_map(|(c, _)| c.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let mut s = svg_open();
    for (k, (counts, colour)) in series.iter().enumerate() {
        let bw = W / counts.len().max(1) as f64;
        // Side by side within a bin when several series share it.
        let sub = bw / series.len() as f64;
        for (i, &c) in counts.iter().enumerate() {
            let bh = c as f64 / max * H;
            s.push_str(&format!(
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}" fill="{colour}"><title>{c}</title></rect>"#,
                i as f64 * bw + k as f64 * sub,
                H - bh,
                (sub - 0.5).max(0.5)
            ));
        }
    }
    s.push_str(&format!(
        r#"<text x="0" y="{y}" font-size="10">{}</text><text x="{W}" y="{y}" font-size="10" text-anchor="end">{}</text></svg>"#,
        sig4(lo),
        sig4(hi),
        y = H + 13.0
    ));
    s
}

/// One vertical segment per channel from its minimum to its maximum, zero marked.
fn range_chart(min: &[f32], max: &[f32]) -> String {
    let lo = min.iter().fold(0f32, |a, &b| a.min(b)) as f64;
    let hi = max.iter().fold(0f32, |a, &b| a.max(b)) as f64;
    let span = (hi - lo).max(1e-30);
    let y = |v: f64| H - (v - lo) / span * H;
    let bw = W / min.len().max(1) as f64;
    let mut s = svg_open();
    s.push_str(&format!(
        r##"<line x1="0" x2="{W}" y1="{0:.1}" y2="{0:.1}" stroke="#999"/>"##,
        y(0.0)
    ));
    for (c, (&a, &b)) in min.iter().zip(max).enumerate() {
        s.push_str(&format!(
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#4a7bd0"><title>channel {c}: [{}, {}]</title></rect>"##,
            c as f64 * bw,
            y(b as f64),
            (bw - 1.0).max(0.5),
            (y(a as f64) - y(b as f64)).max(0.5),
            sig4(a as f64),
            sig4(b as f64)
        ));
    }
    s.push_str(&format!(
        r#"<text x="0" y="{}" font-size="10">{} .. {}</text></svg>"#,
        H + 13.0,
        sig4(lo),
        sig4(hi)
    ));
    s
}

/// The last `;`-separated part of a TF tensor name, at most 60 characters.
fn short(name: &str) -> String {
    let last = name.rsplit(';').next().unwrap_or(name);
    let n = last.chars().count();
    last.chars().skip(n.saturating_sub(60)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::debug::WeightStats;

    fn row(ros: f64) -> LayerStats {
        LayerStats {
            op_name: "CONV_2D".into(),
            tensor_idx: 3,
            num_elements: 8.0,
            stddev: 0.0,
            mean_error: 0.0,
            max_abs_error: 0.0,
            mean_squared_error: 0.0,
            scale: 0.1,
            zero_point: -128,
            tensor_name: "model/conv<1>".into(),
            range: 25.5,
            rmse_over_scale: ros,
            sqnr_db: 30.0,
            propagated_rmse: 0.0,
            clipped_fraction: 0.0,
            value_histogram: vec![1; HIST_BINS],
            error_histogram: vec![1; HIST_BINS],
            int8_histogram: vec![1; HIST_BINS],
            weights: Some(WeightStats {
                name: "w".into(),
                min: vec![-1.0, -0.5],
                max: vec![1.0, 2.0],
                scale: vec![0.01, 0.02],
                rmse_over_scale: vec![0.29, 0.9],
            }),
        }
    }

    #[test]
    fn flags_name_the_problems() {
        let r = row(0.8);
        assert_eq!(
            flags(&r),
            vec!["error above rounding", "weights quantize badly"]
        );
        let mut ok = row(0.29);
        ok.weights = None;
        assert!(flags(&ok).is_empty());
    }

    #[test]
    fn page_has_a_panel_and_an_option_per_layer_and_escapes_names() {
        let report = DebugReport {
            rows: vec![row(0.3), row(0.9)],
            metrics: ModelMetrics {
                samples: 4,
                float_accuracy: Some(1.0),
                int8_accuracy: Some(0.75),
                top1_agreement: 0.75,
                output_rmse: 0.1,
                output_sqnr_db: 20.0,
            },
        };
        let page = report.page();
        assert_eq!(page.matches("class=\"wb-panel\"").count(), 2);
        assert_eq!(page.matches("<option ").count(), 2);
        assert!(page.contains("model/conv&lt;1&gt;"));
        assert!(!page.contains("model/conv<1>"));
        assert!(page.contains("int8 accuracy 75.00%"));
        assert!(!page.contains("src=") && !page.contains("href="));
    }

    #[test]
    fn rounding_constant_is_one_over_sqrt_12() {
        assert!((ROUNDING_RMSE_OVER_SCALE - 1.0 / 12f64.sqrt()).abs() < 1e-15);
    }
}
