//! [`Figure`]: a plotly plot with an offline HTML rendering and evcxr display.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::display::evcxr::{mime_block, print_block};

/// Environment variable marking that this process already emitted plotly.js into the notebook.
///
/// A process-wide variable rather than a `static`: evcxr links the workbench
/// into every cell's library, so each cell has its own copy of our statics.
const PLOTLY_JS_SENT_ENV: &str = "WORKBENCH_PLOTLY_JS_SENT";
/// Counter that makes plot element ids unique within one copy of this code.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Marks plotly.js as sent; returns whether it already was.
fn mark_plotly_js_sent() -> bool {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let sent = std::env::var_os(PLOTLY_JS_SENT_ENV).is_some();
    std::env::set_var(PLOTLY_JS_SENT_ENV, "1");
    sent
}

/// The plotly.js library bundled with the `plotly` crate, without MathJax.
pub fn plotly_js() -> &'static str {
    // `offline_js_sources` returns plotly.js then MathJax, each in its own <script>.
    static JS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    JS.get_or_init(|| {
        let all = plotly::Plot::offline_js_sources();
        let start = all.find('>').map_or(0, |i| i + 1);
        let end = all.find("</script>").unwrap_or(all.len());
        all[start..end].to_string()
    })
}

/// plotly.js in a `<script>` element.
fn plotly_js_script() -> String {
    format!(
        "<script type=\"text/javascript\">{}</script>\n",
        plotly_js()
    )
}

/// A plotly plot that shows itself in notebooks and renders without a network.
#[derive(Clone)]
pub struct Figure {
    /// The underlying plotly plot; add traces or change its layout freely.
    pub plot: plotly::Plot,
}

impl std::fmt::Debug for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Figure")
            .field("json", &self.to_json())
            .finish()
    }
}

impl From<plotly::Plot> for Figure {
    fn from(plot: plotly::Plot) -> Self {
        Figure { plot }
    }
}

impl Figure {
    /// The plot's JSON (`data`, `layout`, `config`), as plotly.js takes it.
    pub fn to_json(&self) -> String {
        self.plot.to_json()
    }

    /// An HTML fragment that draws the plot, assuming plotly.js is loaded on the page.
    pub fn to_html_fragment(&self) -> String {
        let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let id = format!("wb-plot-{}-{nanos:x}-{n}", std::process::id());
        // `</` cannot appear inside a <script>: escape it in the JSON.
        let json = self.to_json().replace("</", "<\\/");
        format!(
            "<div id=\"{id}\" class=\"plotly-graph-div\" style=\"width:100%;min-height:420px\"></div>\n\
             <script type=\"text/javascript\">\n\
             (function() {{\n\
             var el = document.getElementById(\"{id}\");\n\
             if (window.Plotly) {{ Plotly.newPlot(el, {json}); }}\n\
             else {{ el.textContent = \"plotly.js is not loaded on this page: re-run the notebook's first plot cell.\"; }}\n\
             }})();\n\
             </script>"
        )
    }

    /// A standalone HTML page with plotly.js embedded: opens offline in any browser.
    pub fn to_standalone_html(&self) -> String {
        format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n{}{}\n</body></html>\n",
            plotly_js_script(),
            self.to_html_fragment()
        )
    }

    /// Writes [`Figure::to_standalone_html`] to `path`.
    pub fn write_html(&self, path: &std::path::Path) -> crate::Result<()> {
        std::fs::write(path, self.to_standalone_html()).map_err(|e| crate::Error::io(path, e))
    }

    /// The evcxr MIME blocks: plotly JSON plus HTML that embeds plotly.js the first time.
    pub fn evcxr_blocks(&self) -> String {
        let mut html = String::new();
        if !mark_plotly_js_sent() {
            html.push_str(&plotly_js_script());
        }
        html.push_str(&self.to_html_fragment());
        let mut out = mime_block("application/vnd.plotly.v1+json", &self.to_json());
        out.push_str(&mime_block("text/html", &html));
        out
    }

    /// Shows the plot in an evcxr notebook.
    pub fn evcxr_display(&self) {
        print_block(&self.evcxr_blocks());
    }
}

/// Loads plotly.js into the notebook page, for a notebook's setup cell.
///
/// Figures embed plotly.js themselves the first time one is shown in a
/// process; calling this first puts it in a fixed cell instead, so re-running
/// the notebook in the same kernel keeps plotly.js on the page.
pub fn notebook_init() -> PlotlyInit {
    PlotlyInit
}

/// The display that loads plotly.js into a notebook (see [`notebook_init`]).
#[derive(Clone, Copy, Debug)]
pub struct PlotlyInit;

impl PlotlyInit {
    /// The `text/html` block: plotly.js and a one-line note.
    pub fn evcxr_blocks(&self) -> String {
        mark_plotly_js_sent();
        let html = format!(
            "{}<div style=\"color:#666\">plotly.js loaded into this page (embedded, works offline)</div>",
            plotly_js_script()
        );
        mime_block("text/html", &html)
    }

    /// Shows the block in an evcxr notebook.
    pub fn evcxr_display(&self) {
        print_block(&self.evcxr_blocks());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotly::{Plot, Scatter};

    fn figure(name: &str) -> Figure {
        let mut plot = Plot::new();
        plot.add_trace(Scatter::new(vec![1, 2], vec![3, 4]).name(name));
        plot.into()
    }

    #[test]
    fn plotly_js_is_the_library_without_mathjax() {
        let js = plotly_js();
        assert!(js.trim_start().starts_with("/**\n* plotly.js v"));
        assert!(js.len() > 3_000_000, "plotly.js is {} bytes", js.len());
        assert!(!js.contains("MathJax.loader"), "MathJax came along");
        assert!(!js.contains("</script>"));
    }

    #[test]
    fn plotly_js_goes_out_once_then_figures_only_draw() {
        let first = figure("a").evcxr_blocks();
        let second = figure("b").evcxr_blocks();
        // Both carry the JSON for JupyterLab and HTML for everything else.
        for blocks in [&first, &second] {
            assert!(blocks.starts_with("EVCXR_BEGIN_CONTENT application/vnd.plotly.v1+json\n{"));
            assert!(blocks.contains("EVCXR_BEGIN_CONTENT text/html\n"));
            assert!(blocks.contains("Plotly.newPlot("));
        }
        // Only this test touches the process-wide flag.
        assert_eq!(first.matches("* plotly.js v").count(), 1);
        assert!(!second.contains("* plotly.js v"));
        // The set-up cell's display always carries it.
        assert!(PlotlyInit.evcxr_blocks().contains("* plotly.js v"));
        assert!(!figure("c").evcxr_blocks().contains("* plotly.js v"));
    }

    #[test]
    fn script_end_tags_in_data_are_escaped() {
        let html = figure("</script><b>x</b>").to_html_fragment();
        assert_eq!(html.matches("</script>").count(), 1, "{html}");
        assert!(html.contains("<\\/script>"));
    }

    #[test]
    fn standalone_page_embeds_plotly_and_draws() {
        let page = figure("a").to_standalone_html();
        assert!(page.contains("* plotly.js v"));
        assert!(page.contains("Plotly.newPlot("));
        // Nothing is loaded from elsewhere (plotly.js itself mentions URLs in comments and strings).
        assert!(!page.contains("<script src="));
    }
}
