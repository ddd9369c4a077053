//! Vendor dialects: one small module each, mapping a vendor's batch conventions onto the one
//! model, its readers and writers.

#[cfg(feature = "json")]
pub mod creatio;
#[cfg(feature = "json")]
pub mod graph;
#[cfg(feature = "json")]
pub mod json_batch;
#[cfg(feature = "json")]
pub mod ringcentral;
pub mod ucwa;
