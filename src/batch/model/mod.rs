//! Batch requests and responses as ordered lists of items: single operations and changesets
//! (atomic groups).

pub(crate) mod atomicity;
pub(crate) mod correlate;
pub(crate) mod exec;
pub(crate) mod limits;
pub(crate) mod prefer;
pub(crate) mod scope;
pub(crate) mod text;
pub(crate) mod validate;

pub use text::Text;

use bytes::Bytes;

/// Header fields of an operation, in order, names as sent, values as bytes: a value goes in
/// and comes out byte for byte, in the multipart and the JSON formats alike, as with the
/// `http` crate. [`get_str`](Self::get_str) gives a value as text when it is UTF-8.
///
/// ```
/// use batchpart::batch::Headers;
/// let mut h = Headers::new();
/// h.push("X-Name", "Zoë 日本");
/// h.push("X-Raw", &b"caf\xe9"[..]);
/// assert_eq!(h.get("x-name"), Some("Zoë 日本".as_bytes()));
/// assert_eq!(h.get_str("X-NAME"), Some("Zoë 日本"));
/// assert_eq!(h.get("x-raw"), Some(&b"caf\xe9"[..]));
/// assert_eq!(h.get_str("x-raw"), None); // not UTF-8
/// ```
///
/// Names and values are held as [`Bytes`]: the batch readers share them with the body they
/// read instead of copying each one.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Headers(Vec<Field>);

/// One header field. `name` is UTF-8: [`Headers::push`] takes text, and the readers hand in
/// header names the decoder has checked to be tokens (ASCII).
#[derive(Clone, PartialEq, Eq)]
struct Field {
    name: Bytes,
    value: Bytes,
}

impl Field {
    fn name(&self) -> &str {
        // Never fails, by the invariant above; an empty name is what a broken one would read.
        core::str::from_utf8(&self.name).unwrap_or_default()
    }
}

impl core::fmt::Debug for Headers {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list()
            .entries(
                self.0
                    .iter()
                    .map(|h| (h.name(), crate::headers::ByteStr(&h.value))),
            )
            .finish()
    }
}

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    /// No headers, with room for `n`.
    pub fn with_capacity(n: usize) -> Self {
        Headers(Vec::with_capacity(n))
    }

    /// The first value of `name` (ASCII case-insensitive), as bytes.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.field(name).map(|h| &h.value[..])
    }

    fn field(&self, name: &str) -> Option<&Field> {
        self.0
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name.as_bytes()))
    }

    /// The first value of `name`, shared: a clone of its `Bytes`, not a copy.
    pub(crate) fn get_shared(&self, name: &str) -> Option<Bytes> {
        self.field(name).map(|h| h.value.clone())
    }

    /// The first value of `name` as text, when it is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| core::str::from_utf8(v).ok())
    }

    /// Appends a header.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) {
        self.0.push(Field {
            name: Bytes::from(name.into()),
            value: Bytes::from(value.into()),
        });
    }

    /// Appends a header whose name the caller has checked to be UTF-8 (a token, as the
    /// decoder validates them), sharing both with their source.
    pub(crate) fn push_shared(&mut self, name: Bytes, value: Bytes) {
        debug_assert!(core::str::from_utf8(&name).is_ok());
        self.0.push(Field { name, value });
    }

    /// Sets `name` to `value`, replacing every earlier value.
    pub fn set(&mut self, name: &str, value: impl Into<Vec<u8>>) {
        self.remove(name);
        self.push(name, value);
    }

    /// Removes every value of `name`.
    pub fn remove(&mut self, name: &str) {
        self.0
            .retain(|h| !h.name.eq_ignore_ascii_case(name.as_bytes()));
    }

    /// The headers as `(name, value)` pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> + Clone {
        self.0.iter().map(|h| (h.name(), &h.value[..]))
    }

    /// The values, open to replacement, in order.
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut Bytes> {
        self.0.iter_mut().map(|h| &mut h.value)
    }

    /// The bytes the fields take as lines: `name: value` and a CRLF each.
    pub(crate) fn wire_len(&self) -> usize {
        self.0
            .iter()
            .map(|h| h.name.len() + h.value.len() + 4)
            .sum()
    }

    /// How many header fields there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is no header.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<N: Into<String>, V: Into<Vec<u8>>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(it: I) -> Self {
        let mut h = Headers::new();
        for (n, v) in it {
            h.push(n, v);
        }
        h
    }
}

/// A Content-ID as references and matching see it, by the rule of
/// [`ContentId::normalized`](crate::ContentId::normalized): without the white space and the
/// angle brackets around it (`<1>` is `1`). The model keeps the value as sent, so that a
/// response echoes it byte for byte.
pub(crate) fn normalize_content_id(id: &str) -> &str {
    // The range only drops ASCII bytes from the ends: it falls on character boundaries.
    &id[crate::content_id::normalized_range(id.as_bytes())]
}

/// The `$<content-id>` reference at the start of a URL or a header value, split into the id
/// and what follows it: the id ends at `/`, `?` or `(` (`$1/Orders`, `$1?$select=Name`,
/// `$1(Name)`). An empty id is no reference. The one reading of a reference: validation, the
/// executor, the correlator and the splitter all call it.
pub(crate) fn reference(s: &str) -> Option<(&str, &str)> {
    let rest = s.strip_prefix('$')?;
    let end = rest.find(['/', '?', '(']).unwrap_or(rest.len());
    (end > 0).then(|| rest.split_at(end))
}

/// One request operation of a batch: an HTTP request without its connection, as the
/// multipart format carries it in an `application/http` part and the JSON format in an
/// element of `requests`.
///
/// - `method` and `url` are text. Bytes that are UTF-8 read as UTF-8 (the writers write text
///   as UTF-8, so a URL such as `/Städte('東京')` goes out as it came); other bytes read one
///   character per byte (Latin-1), so nothing is lost.
/// - The `Content-ID` is kept as sent (`<1>` stays `<1>`, so an answer can echo it byte for
///   byte); references and pairing compare it normalized
///   ([`ContentId::normalized`](crate::ContentId::normalized)). [`content_id_in`](Self::content_id_in)
///   says where the multipart writer puts it.
/// - Header values are bytes, shared with the input where they were read; `body` too.
/// - `depends_on` and `if_condition` exist in the JSON format only; the multipart writer
///   leaves them out.
///
/// ```
/// use batchpart::batch::RequestOp;
/// let op = RequestOp::new("PATCH", "Customers('ALFKI')")
///     .with_content_id("1")
///     .with_header("Content-Type", "application/json")
///     .with_body(r#"{"City":"Berlin"}"#);
/// assert_eq!(op.headers.get_str("content-type"), Some("application/json"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestOp {
    /// The method, as sent (`MERGE` and lowercase methods are kept).
    pub method: Text,
    /// The URL: absolute, an absolute path, or relative to the batch URL; may start with a
    /// `$<content-id>` reference.
    ///
    /// Method, URL and Content-ID are text, and every writer keeps them as they are: the
    /// multipart writers put them on the wire as UTF-8 bytes (`/Städte('東京')` goes out as
    /// its UTF-8, never folded to one byte per char), the JSON writer as JSON strings. The
    /// multipart readers read UTF-8 back as text, and bytes that are not UTF-8 one char per
    /// byte (Latin-1), so a foreign sender's Latin-1 URL reads as the text it meant.
    pub url: Text,
    /// The headers of the embedded request.
    pub headers: Headers,
    /// The Content-ID (multipart, from the MIME part or the embedded head; JSON: `id`).
    pub content_id: Option<Text>,
    /// Where the Content-ID is carried: the MIME part header (OData 4.0), inside the
    /// embedded head (OData 2.0/3.0, Creatio), or both. A reader sets it from where it found
    /// the value, the executor gives a response its request's, and the multipart writer
    /// writes the value there.
    pub content_id_in: crate::writer::ContentIdIn,
    /// The body.
    pub body: Bytes,
    /// JSON only: the ids and atomicity groups this request depends on.
    pub depends_on: Vec<String>,
    /// JSON only: the `if` expression, kept as its raw JSON text.
    pub if_condition: Option<String>,
}

/// One response operation of a batch: an HTTP response without its connection, the answer
/// to one [`RequestOp`].
///
/// It carries the request's `Content-ID` back (as the request sent it), through which
/// [`correlate`](crate::batch::correlate) pairs it; an answer without one pairs by position.
/// The reason phrase is not kept: the writers write the standard one for the status, or none
/// (`HTTP/1.1 299 `).
///
/// ```
/// use batchpart::batch::ResponseOp;
/// let answer = ResponseOp::new(201)
///     .with_content_id("1")
///     .with_header("Location", "Customers('ADA')");
/// assert!(!answer.is_error());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResponseOp {
    /// The status code.
    pub status: u16,
    /// The headers of the embedded response.
    pub headers: Headers,
    /// The Content-ID echoed from the request.
    pub content_id: Option<Text>,
    /// Where the Content-ID is carried: the MIME part header (OData 4.0), inside the
    /// embedded head (OData 2.0/3.0, Creatio), or both. A reader sets it from where it found
    /// the value, the executor gives a response its request's, and the multipart writer
    /// writes the value there.
    pub content_id_in: crate::writer::ContentIdIn,
    /// The body.
    pub body: Bytes,
}

impl RequestOp {
    /// A request with this method and URL.
    pub fn new(method: impl Into<Text>, url: impl Into<Text>) -> Self {
        RequestOp {
            method: method.into(),
            url: url.into(),
            ..Default::default()
        }
    }

    /// Sets the Content-ID.
    pub fn with_content_id(mut self, id: impl Into<Text>) -> Self {
        self.content_id = Some(id.into());
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push(name, value);
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }
}

impl ResponseOp {
    /// A response with this status.
    pub fn new(status: u16) -> Self {
        ResponseOp {
            status,
            ..Default::default()
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push(name, value);
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the Content-ID (as [`RequestOp::with_content_id`]; an answer without one leaves
    /// [`content_id`](Self::content_id) `None`).
    pub fn with_content_id(mut self, id: impl Into<Text>) -> Self {
        self.content_id = Some(id.into());
        self
    }

    /// A 4xx or 5xx status.
    pub fn is_error(&self) -> bool {
        self.status >= 400
    }
}

/// An atomic group of operations: a multipart changeset, or a JSON atomicity group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changeset<Op> {
    /// The group's name: the JSON `atomicityGroup`, or the multipart changeset boundary.
    pub id: Option<String>,
    /// The operations, in order.
    pub ops: Vec<Op>,
}

/// An item of a batch: one operation or a changeset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item<Op> {
    /// A single operation.
    Op(Op),
    /// An atomic group.
    Changeset(Changeset<Op>),
}

impl<Op> Item<Op> {
    /// The operations of the item, in order.
    pub fn ops(&self) -> &[Op] {
        match self {
            Item::Op(op) => core::slice::from_ref(op),
            Item::Changeset(c) => &c.ops,
        }
    }
}

/// A batch: its items in order, each one operation or a changeset (a JSON atomicity group)
/// of operations that succeed or fail together. [`BatchRequest`] and [`BatchResponse`] are
/// its two directions.
///
/// The model is the same whatever the wire: [`read_multipart`](crate::batch::read_multipart),
/// [`read_json`](crate::batch::read_json) and every dialect's reader make one, and
/// [`write_multipart`](crate::batch::write_multipart), [`write_json`](crate::batch::write_json)
/// and the dialects' writers write one. Operations are counted changeset members included
/// ([`op_count`](Self::op_count)), as every limit counts them.
///
/// ```
/// use batchpart::batch::{Batch, Changeset, Item, RequestOp};
/// let batch = Batch { items: vec![
///     Item::Op(RequestOp::new("GET", "Customers")),
///     Item::Changeset(Changeset { id: None, ops: vec![
///         RequestOp::new("POST", "Customers").with_content_id("1"),
///         RequestOp::new("PATCH", "$1").with_content_id("2"),
///     ]}),
/// ]};
/// assert_eq!((batch.items.len(), batch.op_count()), (2, 3));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch<Op> {
    /// The items.
    pub items: Vec<Item<Op>>,
}

impl<Op> Default for Batch<Op> {
    fn default() -> Self {
        Batch { items: Vec::new() }
    }
}

impl<Op> Batch<Op> {
    /// The number of operations, changeset members included.
    pub fn op_count(&self) -> usize {
        self.items.iter().map(|i| i.ops().len()).sum()
    }
}

/// A batch request.
pub type BatchRequest = Batch<RequestOp>;
/// A batch response.
pub type BatchResponse = Batch<ResponseOp>;
