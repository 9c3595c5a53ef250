//! HTML display of [`Estimate`].

use super::evcxr;
use super::html::{escape, shape, thousands, Cell, Table};
use crate::estimate::{dtype_name, Estimate};

impl Estimate {
    /// A per-layer table (op, output shape, MACs, params, ROM and live RAM bytes) with totals, then ROM and RAM lines, as HTML.
    pub fn to_html(&self) -> String {
        let mut t = Table::new().header([
            "#",
            "op",
            "output",
            "MACs",
            "params",
            "ROM bytes",
            "RAM bytes",
        ]);
        for l in &self.layers {
            t.row(vec![
                Cell::num(l.index.to_string()),
                Cell::text(l.op),
                Cell::text(shape(&l.output_shape)),
                Cell::num(thousands(l.macs)),
                Cell::num(thousands(l.params as u64)),
                Cell::num(thousands(l.rom_bytes as u64)),
                Cell::num(thousands(l.ram_bytes as u64)),
            ]);
        }
        t.footer(vec![
            Cell::text(""),
            Cell::text("total"),
            Cell::text(""),
            Cell::num(thousands(self.macs)),
            Cell::num(thousands(self.params() as u64)),
            Cell::num(thousands(self.rom_bytes as u64)),
            Cell::num(thousands(self.ram_bytes_best as u64)),
        ]);
        let by_type: Vec<String> = self
            .rom_by_type
            .iter()
            .map(|(d, b)| format!("{} {}", dtype_name(*d), thousands(*b as u64)))
            .collect();
        format!(
            "<div>{}\n<p>ROM {} bytes ({})<br>RAM {} bytes best (two live buffers), {} bytes worst (every activation)</p></div>",
            t.to_html(),
            thousands(self.rom_bytes as u64),
            escape(&by_type.join(", ")),
            thousands(self.ram_bytes_best as u64),
            thousands(self.ram_bytes_worst as u64)
        )
    }

    /// Shows the estimate as HTML in an evcxr notebook.
    pub fn evcxr_display(&self) {
        evcxr::print_html(&self.to_html());
    }
}
