//! Shared by the examples: JSON strings that carry raw bytes, each byte 0xNN as U+00NN.
#![allow(dead_code)]

use serde::{Serialize, Serializer};

/// Bytes that serialize as a JSON string, byte 0xNN as the character U+00NN (latin-1), so
/// every byte survives a round trip through JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Latin1(pub Vec<u8>);

impl Serialize for Latin1 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.iter().map(|&b| char::from(b)).collect::<String>())
    }
}

impl From<&[u8]> for Latin1 {
    fn from(b: &[u8]) -> Self {
        Latin1(b.to_vec())
    }
}
