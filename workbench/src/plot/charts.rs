//! Ready-made charts: learning curves, per-layer quantization error, generic lines.

use plotly::common::{AxisSide, DashType, Line, Mode, Title};
use plotly::layout::{Axis, GridPattern, Layout, LayoutGrid, Legend, RowOrder};
use plotly::{Bar, Plot, Scatter};

use super::Figure;
use crate::quant::report::{QuantReport, IDEAL_RMSE_OVER_SCALE};
use crate::train::{History, Unit};

/// One named line of a [`line_chart`].
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend name.
    pub name: String,
    /// Values, one per x position.
    pub y: Vec<f64>,
}

impl Series {
    /// A named series.
    pub fn new(name: impl Into<String>, y: Vec<f64>) -> Self {
        Series {
            name: name.into(),
            y,
        }
    }
}

fn axis(title: &str) -> Axis {
    Axis::new().title(Title::with_text(title))
}

/// Lines over a shared x axis, with markers.
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    x: &[f64],
    series: &[Series],
) -> Figure {
    let mut plot = Plot::new();
    for s in series {
        plot.add_trace(
            Scatter::new(x.to_vec(), s.y.clone())
                .name(&s.name)
                .mode(Mode::LinesMarkers),
        );
    }
    plot.set_layout(
        Layout::new()
            .title(Title::with_text(title))
            .x_axis(axis(x_label))
            .y_axis(axis(y_label)),
    );
    plot.into()
}

/// Every `step`-th value of `values` with its time in seconds, `step` the smallest keeping at most `max_points`.
fn decimated(values: &[f64], sample_rate: f64, max_points: usize) -> (Vec<f64>, Vec<f64>) {
    let step = decimation_step(values.len(), max_points);
    // four significant digits: the page holds the numbers as text
    let short = |v: f64| {
        if v == 0.0 || !v.is_finite() {
            return v;
        }
        let scale = 10f64.powi(3 - v.abs().log10().floor() as i32);
        (v * scale).round() / scale
    };
    values
        .iter()
        .enumerate()
        .step_by(step)
        .map(|(i, &v)| (short(i as f64 / sample_rate), short(v)))
        .unzip()
}

/// The step [`channels_chart`] keeps one sample in: the smallest giving at most `max_points` per channel.
pub fn decimation_step(samples: usize, max_points: usize) -> usize {
    samples.div_ceil(max_points.max(1)).max(1)
}

/// One panel per channel, stacked over a shared time axis in seconds; each channel is
/// decimated to at most `max_points` samples (every N-th kept, said in the title) so the
/// page stays small.
pub fn channels_chart(
    title: &str,
    names: &[String],
    channels: &[Vec<f64>],
    sample_rate: f64,
    max_points: usize,
) -> Figure {
    let mut plot = Plot::new();
    let n = channels.len().max(1);
    let samples = channels.iter().map(Vec::len).max().unwrap_or(0);
    let step = decimation_step(samples, max_points);
    for (c, values) in channels.iter().enumerate() {
        let (t, v) = decimated(values, sample_rate, max_points);
        let name = names
            .get(c)
            .cloned()
            .unwrap_or_else(|| format!("Ch{}", c + 1));
        let y = if c == 0 {
            "y".to_string()
        } else {
            format!("y{}", c + 1)
        };
        plot.add_trace(
            Scatter::new(t, v)
                .name(&name)
                .mode(Mode::Lines)
                .line(Line::new().width(1.0))
                .x_axis("x")
                .y_axis(&y),
        );
    }
    let kept = if step == 1 {
        "every sample".to_string()
    } else {
        format!("every {step}th sample shown")
    };
    plot.set_layout(
        Layout::new()
            .title(Title::with_text(format!("{title} ({kept})")))
            .grid(
                LayoutGrid::new()
                    .rows(n)
                    .columns(1)
                    .pattern(GridPattern::Coupled)
                    .row_order(RowOrder::TopToBottom),
            )
            .height(120 * n + 120)
            .x_axis(axis("time (s)")),
    );
    plot.into()
}

/// Grouped bars: one group per category, one bar per series in each.
pub fn bar_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    categories: &[String],
    series: &[Series],
) -> Figure {
    let mut plot = Plot::new();
    for s in series {
        plot.add_trace(Bar::new(categories.to_vec(), s.y.clone()).name(&s.name));
    }
    plot.set_layout(
        Layout::new()
            .title(Title::with_text(title))
            .x_axis(axis(x_label))
            .y_axis(axis(y_label)),
    );
    plot.into()
}

/// Loss (left axis) and accuracy (right axis) per record of a [`fit`](crate::train::fit)
/// run (per epoch or every N steps), training and validation.
pub fn learning_curve(history: &History) -> Figure {
    let x = history.x();
    let e = &history.records;
    let mut plot = Plot::new();
    let mut add = |name: &str, y: Vec<f64>, right: bool, dash: bool| {
        let mut t = Scatter::new(x.clone(), y)
            .name(name)
            .mode(Mode::LinesMarkers);
        if right {
            t = t.y_axis("y2");
        }
        if dash {
            t = t.line(Line::new().dash(DashType::Dash));
        }
        plot.add_trace(t);
    };
    add("loss", e.iter().map(|s| s.loss).collect(), false, false);
    add(
        "accuracy",
        e.iter().map(|s| s.accuracy).collect(),
        true,
        false,
    );
    if e.iter().all(|s| s.val_loss.is_some()) && !e.is_empty() {
        let vl = e.iter().map(|s| s.val_loss.unwrap_or(f64::NAN)).collect();
        let va = e
            .iter()
            .map(|s| s.val_accuracy.unwrap_or(f64::NAN))
            .collect();
        add("val loss", vl, false, true);
        add("val accuracy", va, true, true);
    }
    let x_axis = match history.unit {
        Unit::Epoch => axis("epoch").dtick(1.0),
        Unit::Step => axis("step"),
    };
    plot.set_layout(
        Layout::new()
            .title(Title::with_text("learning curve"))
            .x_axis(x_axis)
            .y_axis(axis("loss"))
            .y_axis2(
                axis("accuracy")
                    .overlaying("y")
                    .side(AxisSide::Right)
                    .range(vec![0.0, 1.0]),
            )
            .legend(Legend::new().x(1.08)),
    );
    plot.into()
}

/// Macro accuracy (mean per-class recall) per record, training and validation.
pub fn macro_accuracy_curve(history: &History, title: &str) -> Figure {
    let e = &history.records;
    let mut series = vec![Series::new(
        "training",
        e.iter().map(|r| r.macro_accuracy).collect(),
    )];
    if !e.is_empty() && e.iter().all(|r| r.val_macro_accuracy.is_some()) {
        series.push(Series::new(
            "validation",
            e.iter()
                .map(|r| r.val_macro_accuracy.unwrap_or(f64::NAN))
                .collect(),
        ));
    }
    let unit = match history.unit {
        Unit::Epoch => "epoch",
        Unit::Step => "step",
    };
    line_chart(title, unit, "macro accuracy", &history.x(), &series)
}

/// `rmse/scale` per quantized tensor as bars, with the rounding-noise ideal (0.289) marked.
pub fn rmse_over_scale_chart(report: &QuantReport) -> Figure {
    let names: Vec<String> = report
        .rows
        .iter()
        .map(|r| format!("{} {}", r.tensor_idx, r.op_name))
        .collect();
    let values: Vec<f64> = report.rows.iter().map(|r| r.rmse_over_scale).collect();
    let mut plot = Plot::new();
    plot.add_trace(Bar::new(names.clone(), values).name("rmse/scale"));
    plot.add_trace(
        Scatter::new(names, vec![IDEAL_RMSE_OVER_SCALE; report.rows.len()])
            .name(format!("ideal {IDEAL_RMSE_OVER_SCALE:.3}"))
            .mode(Mode::Lines)
            .line(Line::new().dash(DashType::Dash).color("#c00000")),
    );
    plot.set_layout(
        Layout::new()
            .title(Title::with_text(
                "quantization error per layer (rmse / scale)",
            ))
            .x_axis(axis("tensor"))
            .y_axis(axis("rmse / scale")),
    );
    plot.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_chart_stacks_decimated_channels() {
        let channels: Vec<Vec<f64>> = (0..8)
            .map(|c| (0..10_000).map(|i| (c * 10_000 + i) as f64).collect())
            .collect();
        let names: Vec<String> = (1..=8).map(|c| format!("Ch{c}")).collect();
        let fig = channels_chart("raw", &names, &channels, 500.0, 1_000);
        let json: serde_json::Value = serde_json::from_str(&fig.to_json()).unwrap();
        let data = json["data"].as_array().unwrap();
        assert_eq!(data.len(), 8);
        assert_eq!(data[0]["x"].as_array().unwrap().len(), 1_000);
        assert_eq!(data[7]["yaxis"], "y8");
        assert_eq!(data[1]["x"][1], 0.02); // every 10th sample at 500 Hz
        assert_eq!(json["layout"]["grid"]["rows"], 8);
        assert!(json["layout"]["title"]["text"]
            .as_str()
            .unwrap()
            .contains("every 10th sample"));
        assert_eq!(decimation_step(10_000, 1_000), 10);
        assert_eq!(decimation_step(5, 0), 5);
        assert_eq!(decimation_step(0, 10), 1);
    }
    use crate::quant::report::ReportRow;
    use crate::train::Record;
    use serde_json::Value;

    fn json(f: &Figure) -> Value {
        serde_json::from_str(&f.to_json()).unwrap()
    }

    #[test]
    fn bar_chart_has_one_trace_per_series_over_the_categories() {
        let cats = vec!["a".to_string(), "b".to_string()];
        let f = bar_chart(
            "t",
            "x",
            "y",
            &cats,
            &[
                Series::new("s1", vec![1.0, 2.0]),
                Series::new("s2", vec![3.0, 4.0]),
            ],
        );
        let v = json(&f);
        let data = v["data"].as_array().unwrap();
        assert_eq!(data.len(), 2);
        assert_eq!(data[1]["type"], "bar");
        assert_eq!(data[1]["name"], "s2");
        assert_eq!(data[0]["x"], serde_json::json!(["a", "b"]));
        assert_eq!(data[1]["y"], serde_json::json!([3.0, 4.0]));
    }

    #[test]
    fn learning_curve_has_training_and_validation_on_two_axes() {
        let e = |epoch: u64, l: f64, a: f64| Record {
            step: 10 * epoch,
            epoch,
            loss: l,
            accuracy: a,
            macro_accuracy: a,
            val_loss: Some(l + 0.1),
            val_accuracy: Some(a - 0.01),
            val_macro_accuracy: Some(a - 0.01),
            learning_rate: 1e-3,
            seconds: 1.0,
        };
        let h = History {
            records: vec![e(1, 0.5, 0.8), e(2, 0.3, 0.9)],
            ..History::default()
        };
        let v = json(&learning_curve(&h));
        let data = v["data"].as_array().unwrap();
        assert_eq!(data.len(), 4);
        assert_eq!(data[0]["name"], "loss");
        assert_eq!(data[0]["x"], serde_json::json!([1.0, 2.0]));
        assert_eq!(data[1]["yaxis"], "y2");
        assert_eq!(data[3]["name"], "val accuracy");
        assert!((data[3]["y"][1].as_f64().unwrap() - 0.89).abs() < 1e-6);
        assert_eq!(v["layout"]["yaxis2"]["overlaying"], "y");
    }

    #[test]
    fn rmse_chart_marks_the_ideal() {
        let row = |name: &str, idx: usize, r: f64| ReportRow {
            op_name: name.into(),
            tensor_idx: idx,
            num_elements: 10,
            stddev: 0.0,
            mean_error: 0.0,
            max_abs_error: 0.0,
            mean_squared_error: 0.0,
            scale: 0.1,
            zero_point: 0,
            tensor_name: format!("t{idx}"),
            range: 25.5,
            rmse_over_scale: r,
        };
        let report = QuantReport {
            rows: vec![row("CONV_2D", 3, 0.31), row("FULLY_CONNECTED", 7, 0.9)],
            examples: 4,
        };
        let v = json(&rmse_over_scale_chart(&report));
        let data = v["data"].as_array().unwrap();
        assert_eq!(data[0]["type"], "bar");
        assert_eq!(
            data[0]["x"],
            serde_json::json!(["3 CONV_2D", "7 FULLY_CONNECTED"])
        );
        assert_eq!(data[0]["y"], serde_json::json!([0.31, 0.9]));
        assert!((data[1]["y"][0].as_f64().unwrap() - 0.288_675).abs() < 1e-6);
        assert_eq!(data[1]["name"], "ideal 0.289");
    }
}
