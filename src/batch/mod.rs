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

#[cfg(feature = "json")]
pub mod creatio;
mod error;
mod exec;
#[cfg(feature = "http")]
pub mod http_interop;
#[cfg(feature = "json")]
pub mod json;
#[cfg(feature = "json")]
pub mod json_batch;
mod model;
mod multipart;
mod prefer;
#[cfg(feature = "json")]
pub mod ringcentral;
pub mod ucwa;
mod validate;

pub use error::{BatchError, BatchErrorKind};
pub use exec::{block_on, execute, service_fn, ExecOptions, RefScope, Service, ServiceFn};
#[cfg(feature = "json")]
pub use json::{read_json, write_json, JsonOp, JsonReader};
pub use model::{
    Batch, BatchRequest, BatchResponse, Changeset, Headers, Item, RequestOp, ResponseOp,
};
pub use multipart::{read_multipart, write_multipart, MultipartReader, Operation, WriteOp};
pub use prefer::Preferences;
pub use validate::{ODataVersion, ValidationOptions, Validator, FORBIDDEN_HEADERS};
