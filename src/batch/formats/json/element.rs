//! The shapes of one element of the `requests` or `responses` array, read and written.

use std::borrow::Cow;

use bytes::Bytes;
use serde_json::value::RawValue;

use crate::batch::error::{BatchError, BatchErrorKind as K};
use serde_json::Value;

use super::body::{body_to_json, headers_for_body, Bodies};
use crate::batch::model::Headers;

/// A `headers` object, its members in model order.
pub(super) struct OutHeaders<'a>(pub(super) &'a Headers);

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
pub(super) struct Payload<'a> {
    pub(super) headers: Option<Cow<'a, Headers>>,
    pub(super) body: Option<Box<RawValue>>,
}

impl<'a> Payload<'a> {
    pub(super) fn new(
        headers: &'a Headers,
        body: &Bytes,
        bodies: Bodies,
    ) -> Result<Self, BatchError> {
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
        // A JSON object names each member once: a header given twice has no JSON form (a
        // reader would keep one of the two, and readers differ on which).
        let names: Vec<&str> = headers.iter().map(|(n, _)| n).collect();
        if let Some(n) = names
            .iter()
            .enumerate()
            .find_map(|(i, n)| names[..i].contains(n).then_some(n))
        {
            return Err(BatchError::new(
                K::InvalidHeader,
                format!("header {n} given twice has no JSON form"),
            ));
        }
        // Borrowed unless an untyped body needs a content-type added.
        let headers = headers_for_body(headers, body).map_or(Cow::Borrowed(headers), Cow::Owned);
        let body = body_to_json(body, &headers, bodies)?;
        Ok(Payload {
            headers: (!headers.is_empty()).then_some(headers),
            body,
        })
    }
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OutRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) atomicity_group: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub(super) depends_on: &'a [String],
    pub(super) method: &'a str,
    pub(super) url: &'a str,
    #[serde(rename = "if", skip_serializing_if = "Option::is_none")]
    pub(super) if_condition: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) headers: Option<OutHeaders<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) body: Option<&'a RawValue>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OutResponse<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) atomicity_group: Option<&'a str>,
    pub(super) status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) headers: Option<OutHeaders<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) body: Option<&'a RawValue>,
}

/// A `headers` object with its members in document order (`serde_json::Map` would sort
/// them, and header order is worth keeping).
pub(super) struct OrderedHeaders(Headers);

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

pub(super) fn headers_from(v: Option<OrderedHeaders>) -> Result<Headers, BatchError> {
    Ok(v.map(|h| h.0).unwrap_or_default())
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JsonRequest<'a> {
    pub(super) id: Option<Value>,
    pub(super) method: Option<String>,
    pub(super) url: Option<String>,
    pub(super) headers: Option<OrderedHeaders>,
    #[serde(borrow)]
    pub(super) body: Option<&'a RawValue>,
    pub(super) atomicity_group: Option<String>,
    #[serde(default)]
    pub(super) depends_on: Vec<String>,
    #[serde(rename = "if", borrow)]
    pub(super) if_condition: Option<&'a RawValue>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JsonResponse<'a> {
    pub(super) id: Option<Value>,
    pub(super) status: Option<u16>,
    pub(super) headers: Option<OrderedHeaders>,
    #[serde(borrow)]
    pub(super) body: Option<&'a RawValue>,
    pub(super) atomicity_group: Option<String>,
}

pub(super) fn id_of(v: Option<Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}
