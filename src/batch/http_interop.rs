//! Conversions between operations and the `http` crate's types (feature `http`), so a server
//! can hand each operation to its own router or tower service.

use bytes::Bytes;

use crate::batch::error::{BatchError, BatchErrorKind as K};
use crate::batch::model::{Headers, RequestOp, ResponseOp, Text};

pub(crate) fn to_header_map(h: &Headers) -> Result<http::HeaderMap, BatchError> {
    let mut map = http::HeaderMap::with_capacity(h.len());
    for (n, v) in h.iter() {
        let name = http::HeaderName::from_bytes(n.as_bytes())
            .map_err(|e| BatchError::new(K::Malformed, format!("header {n}: {e}")))?;
        let value = http::HeaderValue::from_bytes(v)
            .map_err(|e| BatchError::new(K::Malformed, format!("header {n}: {e}")))?;
        map.append(name, value);
    }
    Ok(map)
}

/// How header names taken from the `http` crate's types are spelled in the model.
/// `http::HeaderMap` keeps names in lower case only, and peers read names as servers spell
/// them: the Microsoft Graph SDK looks up `headers["Content-Type"]` in a JSON answer, Azure
/// answers `Content-Id` with `400`. Models read from the wire keep the sender's spelling
/// whatever this says; it applies where names come from `http` types (the tower service's
/// answers, the `From` conversions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeaderCase {
    /// `Content-Type`, `Location`, `Retry-After`: each word capitalised, with the
    /// conventional spellings kept (`Content-ID`, `ETag`, `WWW-Authenticate`,
    /// `OData-Version`, `OData-MaxVersion`, `OData-EntityId`, `DataServiceVersion`,
    /// `MaxDataServiceVersion`), and `x-ms-*` names as given. The default.
    #[default]
    Title,
    /// As the `http` crate holds them: lower case.
    Lower,
}

/// The conventional spellings that word-by-word capitalisation would get wrong.
const SPELLINGS: &[&str] = &[
    "Content-ID",
    "ETag",
    "WWW-Authenticate",
    "OData-Version",
    "OData-MaxVersion",
    "OData-EntityId",
    "DataServiceVersion",
    "MaxDataServiceVersion",
];

impl HeaderCase {
    /// `name` (as `http` holds it) spelled this way.
    ///
    /// ```
    /// use batchpart::batch::http_interop::HeaderCase;
    /// assert_eq!(HeaderCase::Title.spell("content-type"), "Content-Type");
    /// assert_eq!(HeaderCase::Title.spell("etag"), "ETag");
    /// assert_eq!(HeaderCase::Title.spell("x-ms-request-id"), "x-ms-request-id");
    /// assert_eq!(HeaderCase::Lower.spell("content-type"), "content-type");
    /// ```
    pub fn spell(self, name: &str) -> String {
        if self == HeaderCase::Lower || name.starts_with("x-ms-") {
            return name.to_string();
        }
        if let Some(s) = SPELLINGS.iter().find(|s| s.eq_ignore_ascii_case(name)) {
            return s.to_string();
        }
        let mut out = String::with_capacity(name.len());
        let mut start = true;
        for c in name.chars() {
            out.push(if start {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            });
            start = c == '-';
        }
        out
    }
}

/// The model's headers from an `http::HeaderMap`, every field in order, names spelled
/// `case`'s way.
pub fn headers_from(map: &http::HeaderMap, case: HeaderCase) -> Headers {
    let mut out = Headers::new();
    for (n, v) in map.iter() {
        out.push(case.spell(n.as_str()), v.as_bytes().to_vec());
    }
    out
}

impl TryFrom<&RequestOp> for http::Request<Bytes> {
    type Error = BatchError;
    /// The operation as a request. Its URL (already resolved by the executor) must parse as
    /// a URI; relative URLs stay relative.
    fn try_from(op: &RequestOp) -> Result<Self, BatchError> {
        let method = http::Method::from_bytes(op.method.as_bytes())
            .map_err(|e| BatchError::new(K::Malformed, e.to_string()))?;
        let uri: http::Uri = op.url.parse().map_err(|e: http::uri::InvalidUri| {
            BatchError::new(K::Malformed, format!("url {}: {e}", op.url))
        })?;
        let mut req = http::Request::new(op.body.clone());
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        *req.headers_mut() = to_header_map(&op.headers)?;
        if let Some(id) = &op.content_id {
            req.extensions_mut().insert(ContentIdExtension(id.clone()));
        }
        Ok(req)
    }
}

/// The operation's Content-ID, carried in the request's extensions (the value as sent; the
/// crate's one Content-ID type, [`ContentId`](crate::ContentId), reads it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentIdExtension(pub Text);

impl From<http::Request<Bytes>> for RequestOp {
    fn from(req: http::Request<Bytes>) -> Self {
        let (parts, body) = req.into_parts();
        RequestOp {
            method: Text::from(parts.method.as_str()),
            url: Text::from(parts.uri.to_string()),
            headers: headers_from(&parts.headers, HeaderCase::Title),
            content_id: parts
                .extensions
                .get::<ContentIdExtension>()
                .map(|c| c.0.clone()),
            body,
            ..Default::default()
        }
    }
}

impl TryFrom<&ResponseOp> for http::Response<Bytes> {
    type Error = BatchError;
    fn try_from(op: &ResponseOp) -> Result<Self, BatchError> {
        let mut res = http::Response::new(op.body.clone());
        *res.status_mut() = http::StatusCode::from_u16(op.status)
            .map_err(|e| BatchError::new(K::Malformed, e.to_string()))?;
        *res.headers_mut() = to_header_map(&op.headers)?;
        Ok(res)
    }
}

impl From<http::Response<Bytes>> for ResponseOp {
    fn from(res: http::Response<Bytes>) -> Self {
        let (parts, body) = res.into_parts();
        ResponseOp {
            status: parts.status.as_u16(),
            headers: headers_from(&parts.headers, HeaderCase::Title),
            content_id: None,
            content_id_in: Default::default(),
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ways() {
        let op = RequestOp::new("MERGE", "/Employees('1')?$select=Name")
            .with_header("If-Match", "W/\"1\"")
            .with_content_id("7")
            .with_body("{}");
        let req = http::Request::<Bytes>::try_from(&op).unwrap();
        assert_eq!(req.method().as_str(), "MERGE");
        assert_eq!(req.headers()["if-match"], "W/\"1\"");
        let back = RequestOp::from(req);
        assert_eq!(
            (
                back.method.as_str(),
                back.url.as_str(),
                back.content_id.as_deref()
            ),
            ("MERGE", "/Employees('1')?$select=Name", Some("7"))
        );
        let res =
            http::Response::<Bytes>::try_from(&ResponseOp::new(201).with_header("Location", "/x"))
                .unwrap();
        assert_eq!(ResponseOp::from(res).status, 201);
        assert!(http::Request::<Bytes>::try_from(&RequestOp::new("GET", "a b")).is_err());
    }
}
