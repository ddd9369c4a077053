//! The wire formats of a batch: OData multipart (`multipart/mixed` of `application/http`
//! parts) and, with feature `json`, the OData JSON format.

pub(crate) mod drive;
#[cfg(feature = "json")]
pub(crate) mod json;
pub(crate) mod multipart;
