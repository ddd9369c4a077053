//! The OData JSON batch format (OData JSON Format section 19):
//! `{"requests":[{"id","method","url","headers","body","atomicityGroup","dependsOn","if"}]}` and
//! `{"responses":[{"id","status","headers","body","atomicityGroup"}]}`.
//!
//! The reader is incremental: a small structural scanner finds each element of the array as
//! its bytes arrive and hands it to `serde_json`, so the first request is out before the last
//! has been read. Bodies are JSON for JSON media types and when no content-type is given (as
//! the OData JSON format says), a string for `text/*`, and base64url otherwise; the writer
//! adds `content-type: application/octet-stream` to an untyped body that is not JSON. Errors
//! carry the line and column in the whole document.

use core::pin::Pin;
use core::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::batch::error::{BatchError, BatchErrorKind as K};
use crate::batch::model::limits::{check_op, Metered, ReadLimits};
use crate::batch::model::validate::{ValidationOptions, Validator};
use crate::batch::model::{Batch, Changeset, Headers, Item, RequestOp, ResponseOp};

/// Base64 bodies: written as base64url without padding (OData JSON Format); read in either
/// alphabet, with or without padding, since Microsoft Graph's clients send standard base64.
pub(crate) mod base64url {
    use base64::alphabet::{STANDARD, URL_SAFE};
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine;

    const WRITE: GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    const LENIENT: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    const READ_URL: GeneralPurpose = GeneralPurpose::new(&URL_SAFE, LENIENT);
    const READ_STANDARD: GeneralPurpose = GeneralPurpose::new(&STANDARD, LENIENT);

    /// Encodes bytes as base64url without padding.
    pub(crate) fn encode(data: &[u8]) -> String {
        WRITE.encode(data)
    }

    /// Decodes base64url or standard base64, padded or not; `None` when it is neither.
    pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
        READ_URL
            .decode(text)
            .or_else(|_| READ_STANDARD.decode(text))
            .ok()
    }
}

/// How a body is carried in JSON, by its media type.
fn body_kind(headers: &Headers) -> BodyKind {
    let ct = headers
        .get_str("content-type")
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or("").trim();
    if essence.is_empty() {
        BodyKind::Unknown
    } else if essence == "application/json" || essence.ends_with("+json") {
        BodyKind::Json
    } else if essence.starts_with("text/") {
        BodyKind::Text
    } else {
        BodyKind::Binary
    }
}

#[derive(PartialEq)]
enum BodyKind {
    Json,
    Text,
    Binary,
    Unknown,
}

/// A body from its JSON form.
fn body_from_json(raw: Option<&RawValue>, headers: &Headers) -> Result<Bytes, BatchError> {
    let Some(raw) = raw else {
        return Ok(Bytes::new());
    };
    let text = raw.get();
    let as_string = || serde_json::from_str::<String>(text).ok();
    Ok(match body_kind(headers) {
        BodyKind::Json => Bytes::copy_from_slice(text.as_bytes()),
        BodyKind::Text => Bytes::from(
            as_string()
                .ok_or_else(|| BatchError::new(K::Body, "a text/* body must be a JSON string"))?,
        ),
        BodyKind::Binary => {
            let s = as_string().ok_or_else(|| {
                BatchError::new(K::Body, "a binary body must be a base64url string")
            })?;
            Bytes::from(
                base64url::decode(&s)
                    .ok_or_else(|| BatchError::new(K::Body, "invalid base64url body"))?,
            )
        }
        // Without a content-type the body is application/json (OData JSON Format 19.1).
        BodyKind::Unknown => Bytes::copy_from_slice(text.as_bytes()),
    })
}

/// A body in its JSON form: a JSON body as it is, text as a string, anything else
/// base64url.
fn body_to_json(body: &Bytes, headers: &Headers) -> Result<Option<Box<RawValue>>, BatchError> {
    if body.is_empty() {
        return Ok(None);
    }
    let kind = body_kind(headers);
    if matches!(kind, BodyKind::Json | BodyKind::Unknown) {
        if let Ok(v) = serde_json::from_slice::<&RawValue>(body) {
            return Ok(Some(v.to_owned()));
        }
        if kind == BodyKind::Json {
            return Err(BatchError::new(K::Body, "a JSON body is not valid JSON"));
        }
    }
    let text = match (kind, core::str::from_utf8(body)) {
        (BodyKind::Text, Ok(s)) => to_json(s)?,
        _ => to_json(&base64url::encode(body))?,
    };
    raw(text).map(Some)
}

/// The headers to write: an untyped body that is not JSON needs a content-type to be read
/// back as the bytes it is.
fn headers_for_body(headers: &Headers, body: &Bytes) -> Option<Headers> {
    let untyped_binary = !body.is_empty()
        && body_kind(headers) == BodyKind::Unknown
        && serde_json::from_slice::<&RawValue>(body).is_err();
    untyped_binary.then(|| {
        let mut h = headers.clone();
        h.push("content-type", "application/octet-stream");
        h
    })
}

/// A value as JSON text, through serde.
pub(crate) fn to_json<T: serde::Serialize + ?Sized>(v: &T) -> Result<String, BatchError> {
    serde_json::to_string(v).map_err(|e| BatchError::new(K::Json, e.to_string()))
}

/// JSON text as a value that serializes as itself.
pub(crate) fn raw(text: String) -> Result<Box<RawValue>, BatchError> {
    RawValue::from_string(text).map_err(|e| BatchError::new(K::Json, e.to_string()))
}

/// A `headers` object, its members in model order.
struct OutHeaders<'a>(&'a Headers);

impl serde::Serialize for OutHeaders<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        for (n, v) in self.0.iter() {
            // `Payload::new` checked that every value is UTF-8.
            m.serialize_entry(n, &String::from_utf8_lossy(v))?;
        }
        m.end()
    }
}

/// An element's `headers` and `body` (an untyped body that is not JSON gets a content-type,
/// see [`headers_for_body`]).
struct Payload {
    headers: Option<Headers>,
    body: Option<Box<RawValue>>,
}

impl Payload {
    fn new(headers: &Headers, body: &Bytes) -> Result<Self, BatchError> {
        // A JSON value is text: a header value goes out byte for byte only when it is UTF-8.
        if let Some((n, _)) = headers
            .iter()
            .find(|(_, v)| core::str::from_utf8(v).is_err())
        {
            return Err(BatchError::new(
                K::InvalidHeader,
                format!("header {n}: a value that is not UTF-8 has no JSON form"),
            ));
        }
        let headers = headers_for_body(headers, body).unwrap_or_else(|| headers.clone());
        let body = body_to_json(body, &headers)?;
        Ok(Payload {
            headers: (!headers.is_empty()).then_some(headers),
            body,
        })
    }
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct OutRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    atomicity_group: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    depends_on: &'a [String],
    method: &'a str,
    url: &'a str,
    #[serde(rename = "if", skip_serializing_if = "Option::is_none")]
    if_condition: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    headers: Option<OutHeaders<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a RawValue>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct OutResponse<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    atomicity_group: Option<&'a str>,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    headers: Option<OutHeaders<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a RawValue>,
}

/// A `headers` object with its members in document order (`serde_json::Map` would sort
/// them, and header order is worth keeping).
struct OrderedHeaders(Headers);

impl<'de> serde::Deserialize<'de> for OrderedHeaders {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = OrderedHeaders;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("an object of header names to values")
            }
            fn visit_unit<E>(self) -> Result<OrderedHeaders, E> {
                Ok(OrderedHeaders(Headers::new()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<OrderedHeaders, A::Error> {
                let mut h = Headers::new();
                while let Some((k, v)) = m.next_entry::<String, Value>()? {
                    // Two parsers would keep different values of a name given twice.
                    if h.iter().any(|(n, _)| n == k) {
                        return Err(serde::de::Error::custom(format_args!(
                            "duplicate field `{k}` in headers"
                        )));
                    }
                    let v = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    h.push(k, v);
                }
                Ok(OrderedHeaders(h))
            }
        }
        d.deserialize_any(V)
    }
}

fn headers_from(v: Option<OrderedHeaders>) -> Result<Headers, BatchError> {
    Ok(v.map(|h| h.0).unwrap_or_default())
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonRequest<'a> {
    id: Option<Value>,
    method: Option<String>,
    url: Option<String>,
    headers: Option<OrderedHeaders>,
    #[serde(borrow)]
    body: Option<&'a RawValue>,
    atomicity_group: Option<String>,
    #[serde(default)]
    depends_on: Vec<String>,
    #[serde(rename = "if", borrow)]
    if_condition: Option<&'a RawValue>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonResponse<'a> {
    id: Option<Value>,
    status: Option<u16>,
    headers: Option<OrderedHeaders>,
    #[serde(borrow)]
    body: Option<&'a RawValue>,
    atomicity_group: Option<String>,
}

fn id_of(v: Option<Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// An operation of a JSON batch: [`RequestOp`], [`ResponseOp`], or a dialect's own. Sealed:
/// its methods are the crate's.
pub trait JsonOp: sealed::JsonOp {}

impl JsonOp for RequestOp {}
impl JsonOp for ResponseOp {}

pub(crate) mod sealed {
    use super::*;

    pub trait JsonOp: Sized {
        /// The array's member name: `requests` or `responses`.
        const ARRAY: &'static str;
        /// Parses one array element; returns the op and its atomicity group.
        fn parse(element: &[u8]) -> Result<(Self, Option<String>), serde_json::Error>;
        /// Checks required members.
        fn check(&self) -> Result<(), &'static str>;
        /// Validates an item (requests only).
        fn validate(_v: &mut Validator, _item: &Item<Self>) -> Result<(), BatchError> {
            Ok(())
        }
        /// Checks the per-operation limits.
        fn check_limits(&self, limits: &ReadLimits) -> Result<(), BatchError>;
        /// The element as JSON text.
        fn to_json(&self, group: Option<&str>) -> Result<String, BatchError>;
    }
}

impl sealed::JsonOp for RequestOp {
    const ARRAY: &'static str = "requests";

    fn parse(element: &[u8]) -> Result<(Self, Option<String>), serde_json::Error> {
        let r: JsonRequest = serde_json::from_slice(element)?;
        let headers = headers_from(r.headers).map_err(serde::de::Error::custom)?;
        let body = body_from_json(r.body, &headers).map_err(serde::de::Error::custom)?;
        Ok((
            RequestOp {
                method: r.method.unwrap_or_default(),
                url: r.url.unwrap_or_default(),
                headers,
                content_id: id_of(r.id),
                body,
                depends_on: r.depends_on,
                if_condition: r.if_condition.map(|v| v.get().to_string()),
            },
            r.atomicity_group,
        ))
    }

    fn check(&self) -> Result<(), &'static str> {
        if self.method.is_empty() {
            return Err("a request needs a method");
        }
        if self.url.is_empty() {
            return Err("a request needs a url");
        }
        Ok(())
    }

    fn validate(v: &mut Validator, item: &Item<Self>) -> Result<(), BatchError> {
        v.check(item)
    }

    fn check_limits(&self, limits: &ReadLimits) -> Result<(), BatchError> {
        check_op(
            limits,
            &self.headers,
            self.body.len(),
            self.depends_on.len(),
        )
    }

    fn to_json(&self, group: Option<&str>) -> Result<String, BatchError> {
        let if_condition = self
            .if_condition
            .as_deref()
            .map(serde_json::from_str::<&RawValue>)
            .transpose()
            .map_err(|e| BatchError::new(K::Body, e.to_string()))?;
        let p = Payload::new(&self.headers, &self.body)?;
        to_json(&OutRequest {
            id: self.content_id.as_deref(),
            atomicity_group: group,
            depends_on: &self.depends_on,
            method: &self.method,
            url: &self.url,
            if_condition,
            headers: p.headers.as_ref().map(OutHeaders),
            body: p.body.as_deref(),
        })
    }
}

impl sealed::JsonOp for ResponseOp {
    const ARRAY: &'static str = "responses";

    fn parse(element: &[u8]) -> Result<(Self, Option<String>), serde_json::Error> {
        let r: JsonResponse = serde_json::from_slice(element)?;
        let headers = headers_from(r.headers).map_err(serde::de::Error::custom)?;
        let body = body_from_json(r.body, &headers).map_err(serde::de::Error::custom)?;
        Ok((
            ResponseOp {
                status: r.status.unwrap_or(0),
                headers,
                content_id: id_of(r.id),
                body,
            },
            r.atomicity_group,
        ))
    }

    fn check(&self) -> Result<(), &'static str> {
        if !(100..=999).contains(&self.status) {
            return Err("a response needs a status");
        }
        Ok(())
    }

    fn check_limits(&self, limits: &ReadLimits) -> Result<(), BatchError> {
        check_op(limits, &self.headers, self.body.len(), 0)
    }

    fn to_json(&self, group: Option<&str>) -> Result<String, BatchError> {
        let p = Payload::new(&self.headers, &self.body)?;
        to_json(&OutResponse {
            id: self.content_id.as_deref(),
            atomicity_group: group,
            status: self.status,
            headers: p.headers.as_ref().map(OutHeaders),
            body: p.body.as_deref(),
        })
    }
}

/// Reads the envelope of a JSON batch, `{"requests": [ {...}, ... ], ...}`, as bytes arrive,
/// to the JSON grammar (RFC 8259): it hands out each element of the target array as soon as
/// its closing brace arrives, for `serde_json` to parse, and checks everything around them
/// itself. Other members' values are validated by `serde_json` and kept (they are small:
/// `stop_on_error`). A member named twice, after unescaping, is an error: two parsers could
/// read the document two ways. A UTF-8 BOM at the start is skipped (RFC 8259 section 8.1).
#[derive(Debug)]
pub(crate) struct Envelope {
    state: Env,
    /// The key or the value being captured.
    buf: Vec<u8>,
    /// Where the element being captured started: offset, line, column.
    element_start: (u64, usize, usize),
    /// A value being skipped: its nesting and string state.
    skip: Skip,
    keys: Vec<String>,
    key: String,
    extra: Vec<(String, Box<RawValue>)>,
    offset: u64,
    line: usize,
    col: usize,
    bom: u8,
    limits: ReadLimits,
    elements: usize,
    /// The document is a bare array of elements (the target name is empty).
    bare: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Env {
    /// Before `{`, a BOM allowed at the very start.
    Start,
    /// After `{` or `,`: a key (or `}` right after `{`).
    Key {
        first: bool,
    },
    InKey,
    Colon,
    Value,
    /// A value of another member.
    Other,
    /// The target member's value: `[` must follow.
    Array,
    /// In the target array: an element (or `]` right after `[`).
    Element {
        first: bool,
    },
    InElement,
    AfterElement,
    AfterValue,
    Done,
}

#[derive(Debug, Clone, Copy, Default)]
struct Skip {
    depth: u32,
    in_str: bool,
    esc: bool,
    /// A number, `true`, `false` or `null`: ends at the next delimiter.
    scalar: bool,
}

impl Skip {
    /// Takes one byte of a value; true when the value is complete with it. A scalar is
    /// complete before the delimiter that ends it, which the caller handles again.
    fn take(&mut self, b: u8) -> Option<bool> {
        if self.in_str {
            if self.esc {
                self.esc = false;
            } else if b == b'\\' {
                self.esc = true;
            } else if b == b'"' {
                self.in_str = false;
                return Some(self.depth == 0);
            }
            return Some(false);
        }
        if self.scalar {
            if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n') {
                return None;
            }
            return Some(false);
        }
        match b {
            b'"' => self.in_str = true,
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' => {
                self.depth = self.depth.saturating_sub(1);
                return Some(self.depth == 0);
            }
            b' ' | b'\t' | b'\r' | b'\n' | b',' | b':' => {}
            _ if self.depth == 0 => self.scalar = true,
            _ => {}
        }
        Some(false)
    }
}

/// What the envelope found in a chunk: an element's bytes, and where it started (offset,
/// line, column).
pub(crate) enum Found {
    Element(Vec<u8>, (u64, usize, usize)),
}

impl Envelope {
    pub(crate) fn new(limits: ReadLimits) -> Self {
        Envelope {
            state: Env::Start,
            buf: Vec::new(),
            element_start: (0, 1, 0),
            skip: Skip::default(),
            keys: Vec::new(),
            key: String::new(),
            extra: Vec::new(),
            offset: 0,
            line: 1,
            col: 0,
            bom: 0,
            limits,
            elements: 0,
            bare: false,
        }
    }

    fn syntax(&self, what: &str) -> BatchError {
        BatchError::new(
            K::Json,
            format!("{what} at line {} column {}", self.line, self.col),
        )
        .at_offset(self.offset.saturating_sub(1))
    }

    /// A member's value, other than the target array's, as JSON text.
    pub(crate) fn member(&self, name: &str) -> Option<&RawValue> {
        self.extra
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| &**v)
    }

    /// Feeds bytes; complete elements and element starts go to `out`.
    pub(crate) fn feed(
        &mut self,
        data: &[u8],
        target: &str,
        out: &mut Vec<Found>,
    ) -> Result<(), BatchError> {
        for &b in data {
            self.offset += 1;
            if b == b'\n' {
                self.line += 1;
                self.col = 0;
            } else {
                self.col += 1;
            }
            self.byte(b, target, out)?;
        }
        Ok(())
    }

    fn byte(&mut self, b: u8, target: &str, out: &mut Vec<Found>) -> Result<(), BatchError> {
        let ws = matches!(b, b' ' | b'\t' | b'\r' | b'\n');
        match self.state {
            Env::Start => {
                const BOM: &[u8] = b"\xEF\xBB\xBF";
                let at = self.offset as usize - 1;
                if at < BOM.len() && usize::from(self.bom) == at && b == BOM[at] {
                    self.bom += 1;
                } else if self.bom > 0 && usize::from(self.bom) < BOM.len() {
                    return Err(self.syntax("an incomplete byte order mark"));
                } else if b == b'{' && !target.is_empty() {
                    self.state = Env::Key { first: true };
                } else if b == b'[' && target.is_empty() {
                    self.bare = true;
                    self.state = Env::Element { first: true };
                } else if !ws {
                    return Err(self.syntax(if target.is_empty() {
                        "expected ["
                    } else {
                        "expected {"
                    }));
                }
            }
            Env::Key { first } => match b {
                b'"' => {
                    self.buf.clear();
                    self.buf.push(b);
                    self.skip = Skip {
                        in_str: true,
                        ..Skip::default()
                    };
                    self.state = Env::InKey;
                }
                b'}' if first => self.state = Env::Done,
                b'}' => return Err(self.syntax("a comma before }")),
                _ if ws => {}
                _ => return Err(self.syntax("expected a member name")),
            },
            Env::InKey => {
                self.capture(b, self.limits.max_header_bytes, "a member name")?;
                if self.skip.take(b) == Some(true) {
                    let key: String = serde_json::from_slice(&self.buf)
                        .map_err(|e| self.syntax("invalid member name").with_source(e))?;
                    if self.keys.contains(&key) {
                        return Err(BatchError::new(
                            K::DuplicateMember,
                            format!(
                                "member \"{key}\" named twice (line {} column {})",
                                self.line, self.col
                            ),
                        )
                        .at_offset(self.offset - 1));
                    }
                    self.keys.push(key.clone());
                    self.key = key;
                    self.state = Env::Colon;
                }
            }
            Env::Colon => match b {
                b':' => {
                    self.state = if self.key == target {
                        Env::Array
                    } else {
                        Env::Value
                    };
                }
                _ if ws => {}
                _ => return Err(self.syntax("expected : after a member name")),
            },
            Env::Value => {
                if !ws {
                    self.buf.clear();
                    self.skip = Skip::default();
                    self.state = Env::Other;
                    return self.byte_again(b, target, out);
                }
            }
            Env::Other => match self.skip.take(b) {
                None => {
                    self.other_done()?;
                    return self.byte_again(b, target, out);
                }
                Some(done) => {
                    self.capture(b, self.limits.max_header_bytes, "a member's value")?;
                    if done {
                        self.other_done()?;
                    }
                }
            },
            Env::Array => match b {
                b'[' => self.state = Env::Element { first: true },
                _ if ws => {}
                _ => return Err(self.syntax(&format!("\"{target}\" must be an array"))),
            },
            Env::Element { first } => match b {
                b'{' => {
                    // Counted as it starts, inside atomicity groups too.
                    self.elements += 1;
                    if self.elements > self.limits.max_operations {
                        return Err(BatchError::new(
                            K::TooManyOperations,
                            format!("over max_operations ({})", self.limits.max_operations),
                        )
                        .at_op(self.elements - 1, None)
                        .at_offset(self.offset - 1));
                    }
                    self.buf.clear();
                    self.buf.push(b);
                    self.skip = Skip {
                        depth: 1,
                        ..Skip::default()
                    };
                    self.element_start = (self.offset - 1, self.line, self.col);
                    self.state = Env::InElement;
                }
                b']' if first => self.state = self.after_array(),
                b']' => return Err(self.syntax("trailing comma")),
                _ if ws => {}
                _ => return Err(self.syntax("expected an object")),
            },
            Env::InElement => {
                let max = self
                    .limits
                    .max_body_bytes
                    .saturating_add(self.limits.max_header_bytes);
                if self.buf.len() >= max {
                    return Err(BatchError::new(
                        K::BodyTooLarge,
                        format!("an element is over max_body_bytes + max_header_bytes ({max})"),
                    )
                    .at_offset(self.offset - 1));
                }
                self.buf.push(b);
                if self.skip.take(b) == Some(true) {
                    // One exact copy; the buffer keeps its capacity for the next element.
                    out.push(Found::Element(self.buf.to_vec(), self.element_start));
                    self.buf.clear();
                    self.state = Env::AfterElement;
                }
            }
            Env::AfterElement => match b {
                b',' => self.state = Env::Element { first: false },
                b']' => self.state = self.after_array(),
                _ if ws => {}
                _ => return Err(self.syntax("expected , or ] (a missing comma?)")),
            },
            Env::AfterValue => match b {
                b',' => self.state = Env::Key { first: false },
                b'}' => self.state = Env::Done,
                _ if ws => {}
                _ => return Err(self.syntax("expected , or } (a missing comma?)")),
            },
            Env::Done => {
                if !ws {
                    return Err(self.syntax("text after the JSON document"));
                }
            }
        }
        Ok(())
    }

    fn after_array(&self) -> Env {
        if self.bare {
            Env::Done
        } else {
            Env::AfterValue
        }
    }

    /// Handles `b` again in the state just entered (the first byte of a value, or the
    /// delimiter that ended a scalar).
    fn byte_again(&mut self, b: u8, target: &str, out: &mut Vec<Found>) -> Result<(), BatchError> {
        self.byte(b, target, out)
    }

    fn capture(&mut self, b: u8, max: usize, what: &str) -> Result<(), BatchError> {
        if self.buf.len() >= max {
            return Err(BatchError::new(
                K::HeaderTooLarge,
                format!("{what} is over max_header_bytes ({max})"),
            )
            .at_offset(self.offset - 1));
        }
        self.buf.push(b);
        Ok(())
    }

    /// A value of another member ended: it must be valid JSON on its own.
    fn other_done(&mut self) -> Result<(), BatchError> {
        let text = String::from_utf8(core::mem::take(&mut self.buf))
            .map_err(|e| self.syntax("invalid UTF-8").with_source(e))?;
        let v =
            RawValue::from_string(text).map_err(|e| self.syntax("invalid value").with_source(e))?;
        self.extra.push((core::mem::take(&mut self.key), v));
        self.state = Env::AfterValue;
        Ok(())
    }

    pub(crate) fn finish(&self, target: &str) -> Result<(), BatchError> {
        if self.state != Env::Done {
            return Err(self.syntax("unexpected end of the JSON document"));
        }
        if !self.bare && !self.keys.iter().any(|k| k == target) {
            return Err(BatchError::new(
                K::Malformed,
                format!("no \"{target}\" array"),
            ));
        }
        Ok(())
    }
}

/// Reads a JSON document already in memory element by element, to the envelope's grammar and
/// under the limits: `target` names the array member of the top-level object, or is empty for
/// a document that is a bare array. Operations are counted as they start; `each` gets every
/// element's bytes and start offset. Returns the envelope, for the other members.
pub(crate) fn for_each_element(
    body: &[u8],
    target: &str,
    limits: &ReadLimits,
    mut each: impl FnMut(&[u8], u64) -> Result<(), BatchError>,
) -> Result<Envelope, BatchError> {
    if body.len() as u64 > limits.max_batch_bytes {
        return Err(BatchError::new(
            K::BatchTooLarge,
            format!(
                "the batch is over max_batch_bytes ({})",
                limits.max_batch_bytes
            ),
        )
        .at_offset(limits.max_batch_bytes));
    }
    let mut env = Envelope::new(*limits);
    let mut found = Vec::new();
    // Slices of 64 KiB: the elements found are handed out before more are split off.
    for piece in body.chunks(64 * 1024) {
        env.feed(piece, target, &mut found)?;
        for f in found.drain(..) {
            let Found::Element(bytes, (offset, _, _)) = f;
            each(&bytes, offset)?;
        }
    }
    env.finish(target)?;
    Ok(env)
}

/// Parses one element, reporting serde's position in document terms.
fn parse_element<Op: JsonOp>(
    bytes: &[u8],
    (offset, line0, col0): (u64, usize, usize),
    limits: &ReadLimits,
) -> Result<(Op, Option<String>), BatchError> {
    let start = (line0, col0);
    let (op, group) = Op::parse(bytes).map_err(|e| {
        let (line, col) = if e.line() <= 1 {
            (start.0, start.1 + e.column().saturating_sub(1))
        } else {
            (start.0 + e.line() - 1, e.column())
        };
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        let kind = if msg.starts_with("duplicate field") {
            K::DuplicateMember
        } else if e.is_syntax() || e.is_eof() {
            K::Json
        } else {
            K::Malformed
        };
        BatchError::new(kind, format!("{msg} at line {line} column {col}"))
            .at_offset(offset)
            .with_source(e)
    })?;
    op.check().map_err(|m| {
        BatchError::new(
            K::Malformed,
            format!("{m} (element at line {} column {})", start.0, start.1),
        )
        .at_offset(offset)
    })?;
    op.check_limits(limits).map_err(|e| e.at_offset(offset))?;
    Ok((op, group))
}

/// Reads a JSON batch incrementally from a stream of `Bytes`; adjacent members of an
/// atomicity group come out as one changeset.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use batchpart::batch::{Item, JsonReader, RequestOp};
/// use bytes::Bytes;
/// use futures_core::Stream;
///
/// let doc = r#"{"requests":[{"id":"1","method":"get","url":"/People"}]}"#;
/// let mut items = JsonReader::<_, RequestOp>::new(batchpart::stream::iter([Ok::<_, std::io::Error>(Bytes::from(doc))]));
/// // `items.next().await` with a `StreamExt`.
/// let next = std::future::poll_fn(|cx| std::pin::Pin::new(&mut items).poll_next(cx)).await;
/// let Some(Ok(Item::Op(op))) = next else { panic!() };
/// assert_eq!(op.url, "/People");
/// # }
/// ```
pub struct JsonReader<S, Op> {
    inner: Metered<S>,
    envelope: Envelope,
    ready: std::collections::VecDeque<Found>,
    group: Option<Changeset<Op>>,
    out: std::collections::VecDeque<Item<Op>>,
    validator: Option<Validator>,
    limits: ReadLimits,
    pending_error: Option<BatchError>,
    inner_done: bool,
    done: bool,
}

impl<S, Op> core::fmt::Debug for JsonReader<S, Op> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("JsonReader")
            .field("envelope", &self.envelope)
            .finish()
    }
}

impl<S, E, Op> JsonReader<S, Op>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: core::fmt::Display,
    Op: JsonOp,
{
    /// A reader over a stream of JSON bytes, with the default [`ReadLimits`].
    pub fn new(inner: S) -> Self {
        let limits = ReadLimits::default();
        JsonReader {
            inner: Metered::new(inner, limits.max_batch_bytes),
            envelope: Envelope::new(limits),
            ready: Default::default(),
            group: None,
            out: Default::default(),
            validator: None,
            limits,
            pending_error: None,
            inner_done: false,
            done: false,
        }
    }

    /// Reads under these limits (set before the first item is read).
    pub fn limits(mut self, limits: ReadLimits) -> Self {
        self.limits = limits;
        self.inner = Metered::new(self.inner.into_inner(), limits.max_batch_bytes);
        self.envelope = Envelope::new(limits);
        self
    }

    /// Validates every item as it is read, with the JSON format's rules on.
    pub fn validate(mut self, mut opts: ValidationOptions) -> Self {
        opts.json = true;
        self.validator = Some(Validator::new(opts));
        self
    }

    /// Validates with these options exactly (a dialect without the OData JSON rules).
    pub(crate) fn with_validator(mut self, v: Validator) -> Self {
        self.validator = Some(v);
        self
    }

    /// The value of another top-level member, once the document is read.
    pub(crate) fn member(&self, name: &str) -> Option<&RawValue> {
        self.envelope.member(name)
    }

    fn take(&mut self, found: Found) -> Result<(), BatchError> {
        let Found::Element(bytes, start) = found;
        let (op, group) = parse_element::<Op>(&bytes, start, &self.limits)?;
        match (group, &mut self.group) {
            (Some(g), Some(c)) if c.id.as_deref() == Some(g.as_str()) => c.ops.push(op),
            (g, _) => {
                if let Some(c) = self.group.take() {
                    self.out.push_back(Item::Changeset(c));
                }
                match g {
                    Some(g) => {
                        self.group = Some(Changeset {
                            id: Some(g),
                            ops: vec![op],
                        })
                    }
                    None => self.out.push_back(Item::Op(op)),
                }
            }
        }
        Ok(())
    }
}

impl<S, E, Op> Stream for JsonReader<S, Op>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: core::fmt::Display,
    Op: JsonOp + Unpin,
{
    type Item = Result<Item<Op>, BatchError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(item) = this.out.pop_front() {
                if let Some(v) = &mut this.validator {
                    if let Err(e) = Op::validate(v, &item) {
                        this.done = true;
                        this.out.clear();
                        return Poll::Ready(Some(Err(e)));
                    }
                }
                return Poll::Ready(Some(Ok(item)));
            }
            if this.done {
                return Poll::Ready(None);
            }
            if let Some(found) = this.ready.pop_front() {
                if let Err(e) = this.take(found) {
                    this.ready.clear();
                    this.inner_done = true;
                    this.pending_error = Some(e);
                }
                continue;
            }
            // Items completed before an error come out first, then the error.
            if let Some(e) = this.pending_error.take() {
                this.done = true;
                return Poll::Ready(Some(Err(e)));
            }
            if this.inner_done {
                match this.envelope.finish(Op::ARRAY) {
                    Err(e) => this.pending_error = Some(e),
                    Ok(()) => match this.group.take() {
                        Some(c) => this.out.push_back(Item::Changeset(c)),
                        None => this.done = true,
                    },
                }
                continue;
            }
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => this.inner_done = true,
                Poll::Ready(Some(Err(e))) => {
                    this.inner_done = true;
                    this.pending_error = Some(e.into_batch_error());
                }
                Poll::Ready(Some(Ok(chunk))) => {
                    let mut out = Vec::new();
                    let r = this.envelope.feed(&chunk, Op::ARRAY, &mut out);
                    this.ready.extend(out);
                    if let Err(e) = r {
                        this.inner_done = true;
                        this.pending_error = Some(e);
                    }
                }
            }
        }
    }
}

/// Reads a whole JSON batch that is already in memory.
pub fn read_json<Op: JsonOp + Unpin>(
    body: Bytes,
    validation: Option<ValidationOptions>,
) -> Result<Batch<Op>, BatchError> {
    let mut r =
        JsonReader::<_, Op>::new(crate::stream::iter([Ok::<_, core::convert::Infallible>(
            body,
        )]));
    if let Some(v) = validation {
        r = r.validate(v);
    }
    let mut items = Vec::new();
    while let Some(item) = crate::block::next(&mut r) {
        items.push(item?);
    }
    Ok(Batch { items })
}

/// Writes a batch in the JSON format, members and headers in model order, JSON bodies as
/// their own text. Changesets become atomicity groups (named by their id, or `g1`, `g2`...
/// when they have none); an empty changeset has no JSON form and is left out.
///
/// ```
/// use batchpart::batch::{write_json, Batch, Item, RequestOp};
/// let batch = Batch { items: vec![Item::Op(RequestOp::new("GET", "People").with_content_id("r1"))] };
/// assert_eq!(write_json(&batch).unwrap(), r#"{"requests":[{"id":"r1","method":"GET","url":"People"}]}"#);
/// ```
pub fn write_json<Op: JsonOp>(batch: &Batch<Op>) -> Result<String, BatchError> {
    let mut arr = Vec::new();
    for (n, item) in batch.items.iter().enumerate() {
        match item {
            Item::Op(op) => arr.push(raw(op.to_json(None)?)?),
            Item::Changeset(c) => {
                let name = c.id.clone().unwrap_or_else(|| format!("g{}", n + 1));
                for op in &c.ops {
                    arr.push(raw(op.to_json(Some(&name))?)?);
                }
            }
        }
    }
    let mut doc = std::collections::BTreeMap::new();
    doc.insert(Op::ARRAY, arr);
    to_json(&doc)
}
