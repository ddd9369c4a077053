//! Batch semantics (feature `batch`): OData `$batch` requests and responses as a model of
//! items, incremental readers and writers for the multipart format (and, with feature `json`,
//! the JSON format), validation, references, preferences, and an executor that runs a batch
//! over one async handler.
//!
//! ```
//! use batchpart::batch::{read_multipart, RequestOp, ValidationOptions};
//! use bytes::Bytes;
//!
//! let body = Bytes::from_static(b"--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n\
//! --cs\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\n\
//! POST /Customers HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{}\r\n\
//! --cs--\r\n--b--");
//! let batch = read_multipart::<RequestOp>(body, b"multipart/mixed; boundary=b", Some(ValidationOptions::default()))?;
//! assert_eq!(batch.op_count(), 1);
//! # Ok::<(), batchpart::batch::BatchError>(())
//! ```

//! The folder shows the layers: [`model`](self#model) and its semantics (validation,
//! references, `Prefer`, execution) in `model/`, the wire formats (multipart, JSON) in
//! `formats/`, one small module per vendor dialect in `dialects/`, and the `http` crate
//! integration beside them.

mod client;
mod dialects;
mod error;
pub(crate) mod formats;
#[cfg(feature = "http")]
pub mod http_interop;
pub(crate) mod model;

pub use client::monitor::{read_monitor, Accepted, FinalAnswer, MonitorAnswer};
pub use client::retry::{retry, retry_after, BatchOutcome, Retry, RetryPolicy};
pub use client::split::{split, Planned, SplitLimits, Wire};
pub use dialects::dialect::Dialect;
pub use dialects::{azure_blob, dialect, google, ucwa};
#[cfg(feature = "json")]
pub use dialects::{azure_table, creatio, graph, json_batch, ringcentral};
pub use error::{BatchError, BatchErrorKind};
#[cfg(feature = "json")]
pub use formats::json::{read_json, read_json_with, write_json, JsonItems, JsonOp, JsonReader};
pub(crate) use formats::multipart::read_all;
pub use formats::multipart::{
    read_multipart, read_multipart_with, write_multipart, LengthMismatch, MultipartItems,
    MultipartReader, Operation, WriteOp,
};
pub use model::atomicity::{Atomicity, NoAtomicity};
pub use model::correlate::{correlate, Correlation, MatchedBy, Pair};
pub use model::exec::{
    execute, execute_each, execute_with, handler_fn, ExecOptions, Handler, HandlerFn, RefScope,
};
pub use model::limits::ReadLimits;
pub use model::prefer::Preferences;
pub use model::scope::ServiceRoot;
pub use model::validate::{ODataVersion, ValidationOptions, Validator, FORBIDDEN_HEADERS};
pub use model::{
    Batch, BatchRequest, BatchResponse, Changeset, Headers, Item, RequestOp, ResponseOp, Text,
};
