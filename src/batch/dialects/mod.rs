//! Vendor dialects: one small module each, mapping a vendor's batch conventions onto the one
//! model, its readers and writers.

pub mod azure_blob;
#[cfg(feature = "json")]
pub mod azure_table;
#[cfg(feature = "json")]
pub mod creatio;
pub mod dialect;
pub mod google;
#[cfg(feature = "json")]
pub mod graph;
#[cfg(feature = "json")]
pub mod json_batch;
#[cfg(feature = "json")]
pub mod ringcentral;
pub mod ucwa;
