//! Every dialect behind one set of signatures: read a request and a response, write a request
//! and a response, and the dialect's limits as one type.

use bytes::Bytes;

use crate::batch::error::BatchError;
use crate::batch::model::{BatchRequest, BatchResponse};
use crate::batch::{ExecOptions, ReadLimits, SplitLimits};

/// A batch dialect, as a client or a tool uses one without knowing which it is. The modules
/// (`google`, `azure_blob`, ...) keep their own functions, with the options only that dialect
/// has; this is what they have in common. [`by_name`] finds one by the name the `batchpart`
/// command takes.
///
/// ```
/// use batchpart::batch::{dialect, Batch, Item, RequestOp};
/// let google = dialect::by_name("google").unwrap();
/// let batch = Batch { items: vec![Item::Op(RequestOp::new("DELETE", "/storage/v1/b/b/o/x"))] };
/// let (content_type, body) = google.write_request(&batch, "batch_x").unwrap();
/// assert_eq!(content_type, "multipart/mixed; boundary=batch_x");
/// assert_eq!(google.read_request(body, content_type.as_bytes()).unwrap(), batch);
/// assert_eq!(google.limits().max_operations, 1000);
/// ```
pub trait Dialect: Sync {
    /// The dialect's name (`odata`, `odata-json`, `google`, `azure-blob`, `azure-table`,
    /// `graph`, `json-batch`, `ucwa`, `creatio`).
    fn name(&self) -> &'static str;

    /// What one batch may hold, as the dialect documents it: the operations (and the format
    /// the bytes are counted in) that a split plans for and that its readers take, and whether
    /// each batch numbers its Content-IDs from 0.
    fn limits(&self) -> SplitLimits;

    /// Reads a request whose Content-Type is `content_type` (ignored by a JSON-only dialect).
    fn read_request(&self, body: Bytes, content_type: &[u8]) -> Result<BatchRequest, BatchError>;

    /// Reads a request as a server does: the dialect's own rules, under `limits` wherever
    /// they are lower than the dialect's (counted as the bytes arrive, as every reader
    /// counts), with the run options the request itself asks for, if it can (the JSON
    /// `/batch` dialect's `stopOnError`). The tower service serves a dialect through this.
    fn read_request_with(
        &self,
        body: Bytes,
        content_type: &[u8],
        limits: ReadLimits,
    ) -> Result<(BatchRequest, Option<ExecOptions>), BatchError>;

    /// The status a server answers a batch with: `200`, or what the dialect documents
    /// (Azure's `202 Accepted`).
    fn response_status(&self) -> u16 {
        200
    }

    /// Reads a response.
    fn read_response(&self, body: Bytes, content_type: &[u8]) -> Result<BatchResponse, BatchError>;

    /// Writes a request: its Content-Type and body. A multipart dialect writes under
    /// `boundary` (Azure Blob's GUID form takes what follows `batch_`); a JSON one ignores it.
    fn write_request(
        &self,
        batch: &BatchRequest,
        boundary: &str,
    ) -> Result<(String, Bytes), BatchError>;

    /// Writes a response, as [`write_request`](Self::write_request).
    fn write_response(
        &self,
        batch: &BatchResponse,
        boundary: &str,
    ) -> Result<(String, Bytes), BatchError>;
}

/// The dialect with this name, if the crate has it.
pub fn by_name(name: &str) -> Option<&'static dyn Dialect> {
    ALL.iter().copied().find(|d| d.name() == name)
}

/// Every dialect the crate has.
pub const ALL: &[&dyn Dialect] = &[
    &OData,
    #[cfg(feature = "json")]
    &ODataJson,
    &Google,
    &AzureBlob,
    #[cfg(feature = "json")]
    &AzureTable,
    #[cfg(feature = "json")]
    &Graph,
    #[cfg(feature = "json")]
    &JsonBatch,
    &Ucwa,
    #[cfg(feature = "json")]
    &Creatio,
];

/// What a server reads: the request, and the run options it asks for.
type Served = Result<(BatchRequest, Option<ExecOptions>), BatchError>;

type Written = Result<(String, crate::writer::Encoded), BatchError>;

fn multipart(w: Written) -> Result<(String, Bytes), BatchError> {
    w.map(|(ct, body)| (ct, body.into_bytes()))
}

#[cfg(feature = "json")]
fn json(w: Result<String, BatchError>) -> Result<(String, Bytes), BatchError> {
    w.map(|s| ("application/json".to_string(), Bytes::from(s)))
}

/// OData `$batch` in the multipart format.
#[derive(Debug, Clone, Copy)]
pub struct OData;

impl Dialect for OData {
    fn name(&self) -> &'static str {
        "odata"
    }
    fn limits(&self) -> SplitLimits {
        SplitLimits::default()
    }
    fn read_request(&self, body: Bytes, ct: &[u8]) -> Result<BatchRequest, BatchError> {
        crate::batch::read_multipart(body, ct, Some(Default::default()))
    }
    fn read_request_with(&self, body: Bytes, ct: &[u8], limits: ReadLimits) -> Served {
        crate::batch::read_multipart_with(body, ct, limits, Some(Default::default()))
            .map(|b| (b, None))
    }
    fn read_response(&self, body: Bytes, ct: &[u8]) -> Result<BatchResponse, BatchError> {
        crate::batch::read_multipart(body, ct, None)
    }
    fn write_request(
        &self,
        b: &BatchRequest,
        boundary: &str,
    ) -> Result<(String, Bytes), BatchError> {
        multipart(crate::batch::write_multipart(b, boundary.as_bytes()))
    }
    fn write_response(
        &self,
        b: &BatchResponse,
        boundary: &str,
    ) -> Result<(String, Bytes), BatchError> {
        multipart(crate::batch::write_multipart(b, boundary.as_bytes()))
    }
}

/// OData `$batch` in the JSON format.
#[cfg(feature = "json")]
#[derive(Debug, Clone, Copy)]
pub struct ODataJson;

#[cfg(feature = "json")]
impl Dialect for ODataJson {
    fn name(&self) -> &'static str {
        "odata-json"
    }
    fn limits(&self) -> SplitLimits {
        SplitLimits::default().with_wire(crate::batch::Wire::Json)
    }
    fn read_request(&self, body: Bytes, _: &[u8]) -> Result<BatchRequest, BatchError> {
        crate::batch::read_json(body, Some(Default::default()))
    }
    fn read_request_with(&self, body: Bytes, _: &[u8], limits: ReadLimits) -> Served {
        let v = crate::batch::ValidationOptions::default().with_json(true);
        crate::batch::read_json_with(body, limits, Some(v)).map(|b| (b, None))
    }
    fn read_response(&self, body: Bytes, _: &[u8]) -> Result<BatchResponse, BatchError> {
        crate::batch::read_json(body, None)
    }
    fn write_request(&self, b: &BatchRequest, _: &str) -> Result<(String, Bytes), BatchError> {
        json(crate::batch::write_json(b))
    }
    fn write_response(&self, b: &BatchResponse, _: &str) -> Result<(String, Bytes), BatchError> {
        json(crate::batch::write_json(b))
    }
}

/// Google APIs' batch endpoint ([`google`](crate::batch::google)).
#[derive(Debug, Clone, Copy)]
pub struct Google;

impl Dialect for Google {
    fn name(&self) -> &'static str {
        "google"
    }
    fn limits(&self) -> SplitLimits {
        super::google::limits(super::google::MAX_CALLS)
    }
    fn read_request(&self, body: Bytes, ct: &[u8]) -> Result<BatchRequest, BatchError> {
        super::google::read_request(body, ct, &Default::default())
    }
    fn read_request_with(&self, body: Bytes, ct: &[u8], limits: ReadLimits) -> Served {
        super::google::read_request_under(body, ct, &Default::default(), limits).map(|b| (b, None))
    }
    fn read_response(&self, body: Bytes, ct: &[u8]) -> Result<BatchResponse, BatchError> {
        super::google::read_response(body, ct)
    }
    fn write_request(
        &self,
        b: &BatchRequest,
        boundary: &str,
    ) -> Result<(String, Bytes), BatchError> {
        multipart(super::google::write_request(b, boundary.as_bytes()))
    }
    fn write_response(
        &self,
        b: &BatchResponse,
        boundary: &str,
    ) -> Result<(String, Bytes), BatchError> {
        multipart(super::google::write_response(b, boundary.as_bytes()))
    }
}

/// Azure Blob Batch ([`azure_blob`](crate::batch::azure_blob)).
#[derive(Debug, Clone, Copy)]
pub struct AzureBlob;

/// Azure's boundaries are `batch_<guid>` and `batchresponse_<guid>`: the GUID is what follows
/// the first `_` of the boundary given.
fn guid(boundary: &str) -> &str {
    boundary.split_once('_').map_or(boundary, |(_, g)| g)
}

impl Dialect for AzureBlob {
    fn name(&self) -> &'static str {
        "azure-blob"
    }
    fn limits(&self) -> SplitLimits {
        super::azure_blob::limits()
    }
    fn read_request(&self, body: Bytes, ct: &[u8]) -> Result<BatchRequest, BatchError> {
        super::azure_blob::read_request(body, ct)
    }
    fn read_request_with(&self, body: Bytes, ct: &[u8], limits: ReadLimits) -> Served {
        super::azure_blob::read_request_under(body, ct, limits).map(|b| (b, None))
    }
    fn response_status(&self) -> u16 {
        202
    }
    fn read_response(&self, body: Bytes, ct: &[u8]) -> Result<BatchResponse, BatchError> {
        super::azure_blob::read_response(body, ct)
    }
    fn write_request(
        &self,
        b: &BatchRequest,
        boundary: &str,
    ) -> Result<(String, Bytes), BatchError> {
        multipart(super::azure_blob::write_request(b, guid(boundary)))
    }
    fn write_response(
        &self,
        b: &BatchResponse,
        boundary: &str,
    ) -> Result<(String, Bytes), BatchError> {
        multipart(super::azure_blob::write_response(b, guid(boundary)))
    }
}

/// Azure Table entity-group transactions ([`azure_table`](crate::batch::azure_table)).
#[cfg(feature = "json")]
#[derive(Debug, Clone, Copy)]
pub struct AzureTable;

#[cfg(feature = "json")]
impl Dialect for AzureTable {
    fn name(&self) -> &'static str {
        "azure-table"
    }
    fn limits(&self) -> SplitLimits {
        super::azure_table::limits()
    }
    fn read_request(&self, body: Bytes, ct: &[u8]) -> Result<BatchRequest, BatchError> {
        super::azure_table::read_request(body, ct)
    }
    fn read_request_with(&self, body: Bytes, ct: &[u8], limits: ReadLimits) -> Served {
        super::azure_table::read_request_under(body, ct, limits).map(|b| (b, None))
    }
    fn response_status(&self) -> u16 {
        202
    }
    fn read_response(&self, body: Bytes, ct: &[u8]) -> Result<BatchResponse, BatchError> {
        super::azure_table::read_response(body, ct)
    }
    fn write_request(
        &self,
        b: &BatchRequest,
        boundary: &str,
    ) -> Result<(String, Bytes), BatchError> {
        multipart(super::azure_table::write_request(b, boundary.as_bytes()))
    }
    fn write_response(
        &self,
        b: &BatchResponse,
        boundary: &str,
    ) -> Result<(String, Bytes), BatchError> {
        multipart(super::azure_table::write_response(b, boundary.as_bytes()))
    }
}

/// Microsoft Graph's JSON batching ([`graph`](crate::batch::graph)).
#[cfg(feature = "json")]
#[derive(Debug, Clone, Copy)]
pub struct Graph;

#[cfg(feature = "json")]
impl Dialect for Graph {
    fn name(&self) -> &'static str {
        "graph"
    }
    fn limits(&self) -> SplitLimits {
        SplitLimits::default()
            .with_max_operations(super::graph::MAX_REQUESTS)
            .with_wire(crate::batch::Wire::Json)
    }
    fn read_request(&self, body: Bytes, _: &[u8]) -> Result<BatchRequest, BatchError> {
        super::graph::read_request(&body)
    }
    fn read_request_with(&self, body: Bytes, _: &[u8], limits: ReadLimits) -> Served {
        let limits = limits.min(super::graph::limits());
        super::graph::read_request_shared(body, limits).map(|b| (b, None))
    }
    fn read_response(&self, body: Bytes, _: &[u8]) -> Result<BatchResponse, BatchError> {
        super::graph::read_response(&body)
    }
    fn write_request(&self, b: &BatchRequest, _: &str) -> Result<(String, Bytes), BatchError> {
        json(super::graph::write_request(b))
    }
    fn write_response(&self, b: &BatchResponse, _: &str) -> Result<(String, Bytes), BatchError> {
        json(super::graph::write_response(b))
    }
}

/// A JSON `/batch` API ([`json_batch`](crate::batch::json_batch)); a request it reads does
/// not stop on error, as the envelope's default is.
#[cfg(feature = "json")]
#[derive(Debug, Clone, Copy)]
pub struct JsonBatch;

#[cfg(feature = "json")]
impl Dialect for JsonBatch {
    fn name(&self) -> &'static str {
        "json-batch"
    }
    fn limits(&self) -> SplitLimits {
        SplitLimits::default()
            .with_max_operations(super::json_batch::MAX_REQUESTS)
            .with_wire(crate::batch::Wire::Json)
    }
    fn read_request(&self, body: Bytes, _: &[u8]) -> Result<BatchRequest, BatchError> {
        super::json_batch::read_request(&body).map(|r| r.batch)
    }
    fn read_request_with(&self, body: Bytes, _: &[u8], limits: ReadLimits) -> Served {
        let v = crate::batch::ValidationOptions::default().with_forbid_headers(false);
        let r = super::json_batch::read_request_shared(body, limits, v)?;
        let opts = r.exec_options();
        Ok((r.batch, Some(opts)))
    }
    fn read_response(&self, body: Bytes, _: &[u8]) -> Result<BatchResponse, BatchError> {
        super::json_batch::read_response(&body)
    }
    fn write_request(&self, b: &BatchRequest, _: &str) -> Result<(String, Bytes), BatchError> {
        let req = super::json_batch::Request {
            batch: b.clone(),
            stop_on_error: false,
        };
        json(super::json_batch::write_request(&req))
    }
    fn write_response(&self, b: &BatchResponse, _: &str) -> Result<(String, Bytes), BatchError> {
        json(super::json_batch::write_response(b))
    }
}

/// Skype UCWA's `multipart/batching` ([`ucwa`](crate::batch::ucwa)).
#[derive(Debug, Clone, Copy)]
pub struct Ucwa;

impl Dialect for Ucwa {
    fn name(&self) -> &'static str {
        "ucwa"
    }
    fn limits(&self) -> SplitLimits {
        SplitLimits::default()
    }
    fn read_request(&self, body: Bytes, ct: &[u8]) -> Result<BatchRequest, BatchError> {
        super::ucwa::read_requests(body, ct)
    }
    fn read_request_with(&self, body: Bytes, ct: &[u8], limits: ReadLimits) -> Served {
        super::ucwa::read_requests_under(body, ct, limits).map(|b| (b, None))
    }
    fn read_response(&self, body: Bytes, ct: &[u8]) -> Result<BatchResponse, BatchError> {
        super::ucwa::read_responses(body, ct)
    }
    fn write_request(
        &self,
        b: &BatchRequest,
        boundary: &str,
    ) -> Result<(String, Bytes), BatchError> {
        multipart(super::ucwa::write_requests(b, boundary.as_bytes()))
    }
    fn write_response(
        &self,
        b: &BatchResponse,
        boundary: &str,
    ) -> Result<(String, Bytes), BatchError> {
        multipart(super::ucwa::write_responses(b, boundary.as_bytes()))
    }
}

/// Creatio's OData batches, either format by Content-Type ([`creatio`](crate::batch::creatio));
/// it writes the multipart format.
#[cfg(feature = "json")]
#[derive(Debug, Clone, Copy)]
pub struct Creatio;

#[cfg(feature = "json")]
impl Dialect for Creatio {
    fn name(&self) -> &'static str {
        "creatio"
    }
    fn limits(&self) -> SplitLimits {
        SplitLimits::default().with_max_operations(super::creatio::MAX_REQUESTS)
    }
    fn read_request(&self, body: Bytes, ct: &[u8]) -> Result<BatchRequest, BatchError> {
        super::creatio::read_request(body, ct)
    }
    fn read_request_with(&self, body: Bytes, ct: &[u8], limits: ReadLimits) -> Served {
        super::creatio::read_request_under(body, ct, limits).map(|b| (b, None))
    }
    fn read_response(&self, body: Bytes, ct: &[u8]) -> Result<BatchResponse, BatchError> {
        super::creatio::read_response(body, ct)
    }
    fn write_request(
        &self,
        b: &BatchRequest,
        boundary: &str,
    ) -> Result<(String, Bytes), BatchError> {
        multipart(crate::batch::write_multipart(b, boundary.as_bytes()))
    }
    fn write_response(
        &self,
        b: &BatchResponse,
        boundary: &str,
    ) -> Result<(String, Bytes), BatchError> {
        multipart(crate::batch::write_multipart(b, boundary.as_bytes()))
    }
}
