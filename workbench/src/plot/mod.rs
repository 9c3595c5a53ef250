//! Plots for notebooks and HTML reports, built with `plotly`, that render offline.
//!
//! A [`Figure`] shows itself in evcxr as one display holding two MIME types:
//! `application/vnd.plotly.v1+json` (JupyterLab's plotly renderer) and
//! `text/html` with the plot drawn by plotly.js, which the first figure of a
//! process embeds (no CDN, no MathJax) so exports and offline viewers draw it too.

mod charts;
mod figure;

pub use charts::{
    bar_chart, channels_chart, decimation_step, learning_curve, line_chart, macro_accuracy_curve,
    rmse_over_scale_chart, Series,
};
pub use figure::{notebook_init, plotly_js, Figure, PlotlyInit};
/// The `plotly` crate the figures are made with, for custom charts (`plotly::Plot` into a [`Figure`]).
pub use plotly;
