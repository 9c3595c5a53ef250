//! HTML display of [`MnistMetrics`].

use super::mnist::MnistMetrics;
use crate::display::evcxr;
use crate::display::html::{percent, thousands, Cell, Table};

impl MnistMetrics {
    /// The headline numbers as a key/value HTML table.
    pub fn to_html(&self) -> String {
        let rows: [(&str, String); 12] = [
            ("float accuracy", percent(self.float_accuracy)),
            ("int8 accuracy", percent(self.int8_accuracy)),
            (
                "int8 macro F1",
                format!("{:.4}", self.int8_confusion.macro_f1()),
            ),
            ("ROM", format!("{} bytes", thousands(self.rom_bytes as u64))),
            (
                "RAM best",
                format!("{} bytes", thousands(self.ram_bytes_best as u64)),
            ),
            (
                "RAM worst",
                format!("{} bytes", thousands(self.ram_bytes_worst as u64)),
            ),
            ("MACs", thousands(self.macs)),
            (
                ".tflite size",
                format!("{} bytes", thousands(self.tflite_bytes as u64)),
            ),
            ("train images", thousands(self.train_images as u64)),
            ("test images", thousands(self.test_images as u64)),
            ("epochs", self.epochs.to_string()),
            (
                "training speed",
                format!("{:.0} samples/s", self.train_samples_per_s),
            ),
        ];
        let mut t = Table::new()
            .caption(format!("MNIST run ({})", self.data_source))
            .header(["metric", "value"]);
        for (k, v) in rows {
            t.row(vec![Cell::text(k), Cell::num(v)]);
        }
        t.to_html()
    }

    /// Shows the metrics as HTML in an evcxr notebook.
    pub fn evcxr_display(&self) {
        evcxr::print_html(&self.to_html());
    }
}
