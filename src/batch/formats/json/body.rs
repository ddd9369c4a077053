//! How a body is carried in JSON: JSON for JSON media types and when no content-type is
//! given, a string for `text/*`, base64 otherwise.

use bytes::Bytes;
use serde_json::value::RawValue;

use crate::batch::error::{BatchError, BatchErrorKind as K};
use crate::batch::model::Headers;

use super::{raw, to_json};

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

    /// Encodes bytes as standard base64 with padding, as Microsoft Graph writes it.
    pub(crate) fn encode_standard(data: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(data)
    }

    /// Decodes base64url or standard base64, padded or not; `None` when it is neither.
    pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
        READ_URL
            .decode(text)
            .or_else(|_| READ_STANDARD.decode(text))
            .ok()
    }
}

/// Which convention a JSON batch carries its non-JSON bodies by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bodies {
    /// The OData JSON format: `text/*` as a JSON string, anything else base64url.
    OData,
    /// Microsoft Graph: every body that is not JSON, `text/*` included, as standard base64.
    Graph,
}

/// How a body is carried in JSON, by its media type.
pub(super) fn body_kind(headers: &Headers) -> BodyKind {
    let ct = headers.get_str("content-type").unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim().as_bytes();
    let ends_with = |s: &[u8]| {
        essence.len() >= s.len() && essence[essence.len() - s.len()..].eq_ignore_ascii_case(s)
    };
    if essence.is_empty() {
        BodyKind::Unknown
    } else if essence.eq_ignore_ascii_case(b"application/json") || ends_with(b"+json") {
        BodyKind::Json
    } else if essence.len() >= 5 && essence[..5].eq_ignore_ascii_case(b"text/") {
        BodyKind::Text
    } else {
        BodyKind::Binary
    }
}

#[derive(PartialEq)]
pub(super) enum BodyKind {
    Json,
    Text,
    Binary,
    Unknown,
}

/// A body from its JSON form.
pub(super) fn body_from_json(
    raw: Option<&RawValue>,
    headers: &Headers,
    bodies: Bodies,
    element: &Bytes,
) -> Result<Bytes, BatchError> {
    let Some(raw) = raw else {
        return Ok(Bytes::new());
    };
    let text = raw.get();
    let as_string = || serde_json::from_str::<String>(text).ok();
    let base64 = || -> Result<Bytes, BatchError> {
        let s = as_string()
            .ok_or_else(|| BatchError::new(K::Body, "a binary body must be a base64 string"))?;
        Ok(Bytes::from(base64url::decode(&s).ok_or_else(|| {
            BatchError::new(K::Body, "invalid base64 body")
        })?))
    };
    Ok(match body_kind(headers) {
        BodyKind::Json => element.slice_ref(text.as_bytes()),
        BodyKind::Text | BodyKind::Binary if bodies == Bodies::Graph => base64()?,
        BodyKind::Text => Bytes::from(
            as_string()
                .ok_or_else(|| BatchError::new(K::Body, "a text/* body must be a JSON string"))?,
        ),
        BodyKind::Binary => base64()?,
        // Without a content-type the body is application/json (OData JSON Format 19.1).
        BodyKind::Unknown => element.slice_ref(text.as_bytes()),
    })
}

/// A body in its JSON form: a JSON body as it is, text as a string, anything else
/// base64url.
pub(super) fn body_to_json(
    body: &Bytes,
    headers: &Headers,
    bodies: Bodies,
) -> Result<Option<Box<RawValue>>, BatchError> {
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
        _ if bodies == Bodies::Graph => to_json(&base64url::encode_standard(body))?,
        (BodyKind::Text, Ok(s)) => to_json(s)?,
        _ => to_json(&base64url::encode(body))?,
    };
    raw(text).map(Some)
}

/// The headers to write: an untyped body that is not JSON needs a content-type to be read
/// back as the bytes it is.
pub(super) fn headers_for_body(headers: &Headers, body: &Bytes) -> Option<Headers> {
    let untyped_binary = !body.is_empty()
        && body_kind(headers) == BodyKind::Unknown
        && serde_json::from_slice::<&RawValue>(body).is_err();
    untyped_binary.then(|| {
        let mut h = headers.clone();
        h.push("content-type", "application/octet-stream");
        h
    })
}
