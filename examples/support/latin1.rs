//! Shared by the examples: JSON strings that carry raw bytes, each byte 0xNN as U+00NN.

/// Appends `b` to `out` as a JSON string, byte 0xNN as the character U+00NN (latin-1), so every
/// byte survives; non-ASCII and control bytes are written as `\u00NN` to keep the output ASCII.
pub fn latin1(out: &mut String, b: &[u8]) {
    out.push('"');
    for &c in b {
        match c {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(c as char),
            _ => out.push_str(&format!("\\u{:04x}", c)),
        }
    }
    out.push('"');
}
