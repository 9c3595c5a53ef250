//! A model as a C array for firmware, like `xxd -i`.

use std::fmt::Write;
use std::format;
use std::string::String;
use std::vec::Vec;

/// Formats `bytes` as a 16-byte-aligned C `unsigned char` array named `name`
/// (12 bytes per line) followed by `unsigned int name_len`.
pub fn to_c_array(bytes: &[u8], name: &str) -> String {
    let mut s = String::with_capacity(bytes.len() * 6 + 128);
    let _ = writeln!(s, "alignas(16) unsigned char {name}[] = {{");
    for (i, line) in bytes.chunks(12).enumerate() {
        let last = (i + 1) * 12 >= bytes.len();
        let items: Vec<String> = line.iter().map(|b| format!("0x{b:02x}")).collect();
        let _ = writeln!(s, "  {}{}", items.join(", "), if last { "" } else { "," });
    }
    let _ = writeln!(s, "}};");
    let _ = writeln!(s, "unsigned int {name}_len = {};", bytes.len());
    s
}
