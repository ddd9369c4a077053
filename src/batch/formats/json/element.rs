//! The shapes of one element of the `requests` or `responses` array, read and written.

use std::borrow::Cow;

use bytes::Bytes;
use serde_json::value::RawValue;

use crate::batch::error::{BatchError, BatchErrorKind as K};
use serde_json::Value;

use super::body::{body_to_json, headers_for_body, Bodies};
use crate::batch::model::{Headers, Text};

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
/// them, and header order is worth keeping). Names and string values are borrowed from the
/// element where they hold no escape, so that [`headers_from`] can share them with it.
///
/// The first [`INLINE`](Self::INLINE) members are held in place, the rest in a `Vec`: an
/// operation's few headers cost no allocation on their way to the model's list.
pub(super) struct OrderedHeaders<'a> {
    len: usize,
    inline: [(JsonText<'a>, JsonText<'a>); OrderedHeaders::INLINE],
    spill: Vec<(JsonText<'a>, JsonText<'a>)>,
}

impl<'a> OrderedHeaders<'a> {
    const INLINE: usize = 8;

    fn new() -> Self {
        const EMPTY: (JsonText<'static>, JsonText<'static>) =
            (JsonText(Cow::Borrowed("")), JsonText(Cow::Borrowed("")));
        OrderedHeaders {
            len: 0,
            inline: [EMPTY; OrderedHeaders::INLINE],
            spill: Vec::new(),
        }
    }

    fn push(&mut self, pair: (JsonText<'a>, JsonText<'a>)) {
        match self.inline.get_mut(self.len) {
            Some(slot) => *slot = pair,
            None => self.spill.push(pair),
        }
        self.len += 1;
    }

    fn iter(&self) -> impl Iterator<Item = &(JsonText<'a>, JsonText<'a>)> {
        self.inline[..self.len.min(Self::INLINE)]
            .iter()
            .chain(&self.spill)
    }

    fn into_iter(self) -> impl Iterator<Item = (JsonText<'a>, JsonText<'a>)> {
        let inline = self.len.min(Self::INLINE);
        self.inline.into_iter().take(inline).chain(self.spill)
    }
}

/// A JSON string and nothing else, borrowed from the document where it holds no escape
/// (serde's own `Cow<str>` borrows only where it is not inside an `Option`).
pub(super) struct JsonStr<'a>(pub(super) Cow<'a, str>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for JsonStr<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Only a string reaches the visitor: any other value is refused as of the wrong type.
        d.deserialize_str(TextVisitor::<'a>("a string", core::marker::PhantomData))
            .map(JsonStr)
    }
}

/// A JSON string, borrowed from the document where it holds no escape; as a header value,
/// any other JSON value as compact JSON text.
pub(super) struct JsonText<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for JsonText<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor::<'a>(
            "a header value",
            core::marker::PhantomData,
        ))
        .map(JsonText)
    }
}

/// Reads [`JsonStr`] and [`JsonText`]: a string borrowed where it can be, any other value as
/// its compact JSON text. Names what it expects.
struct TextVisitor<'a>(&'static str, core::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> serde::de::Visitor<'de> for TextVisitor<'a> {
    type Value = Cow<'a, str>;
    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.0)
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cow<'a, str>, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Cow<'a, str>, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Cow<'a, str>, E> {
        Ok(Cow::Owned(v))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Cow<'a, str>, E> {
        Ok(Cow::Owned(Value::from(v).to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Cow<'a, str>, E> {
        Ok(Cow::Owned(Value::from(v).to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Cow<'a, str>, E> {
        Ok(Cow::Owned(Value::from(v).to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Cow<'a, str>, E> {
        Ok(Cow::Owned(Value::from(v).to_string()))
    }
    fn visit_unit<E>(self) -> Result<Cow<'a, str>, E> {
        Ok(Cow::Owned(Value::Null.to_string()))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, a: A) -> Result<Cow<'a, str>, A::Error> {
        let v: Value =
            serde::Deserialize::deserialize(serde::de::value::SeqAccessDeserializer::new(a))?;
        Ok(Cow::Owned(v.to_string()))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, a: A) -> Result<Cow<'a, str>, A::Error> {
        let v: Value =
            serde::Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(a))?;
        Ok(Cow::Owned(v.to_string()))
    }
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for OrderedHeaders<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(core::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = OrderedHeaders<'a>;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("an object of header names to values")
            }
            fn visit_unit<E>(self) -> Result<OrderedHeaders<'a>, E> {
                Ok(OrderedHeaders::new())
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<OrderedHeaders<'a>, A::Error> {
                let mut h = OrderedHeaders::new();
                while let Some(k) = m.next_key::<JsonText<'a>>()? {
                    // Two parsers would keep different values of a name given twice.
                    if h.iter().any(|(n, _)| n.0 == k.0) {
                        return Err(serde::de::Error::custom(format_args!(
                            "duplicate field `{}` in headers",
                            k.0
                        )));
                    }
                    let v = m.next_value::<JsonText<'a>>()?;
                    h.push((k, v));
                }
                Ok(h)
            }
        }
        d.deserialize_any(V(core::marker::PhantomData))
    }
}

/// A string of the element `doc` as model text: shared with `doc` where serde borrowed it
/// (no escape in it), moved in where it was unescaped into a `String`.
pub(super) fn shared(doc: &Text, s: Cow<'_, str>) -> Text {
    match s {
        Cow::Borrowed(s) => doc.slice_of(s),
        Cow::Owned(s) => Text::from(s),
    }
}

/// The model's headers, their names and values shared with `doc` (see [`shared`]).
pub(super) fn headers_from(v: Option<OrderedHeaders<'_>>, doc: &Text) -> Headers {
    let Some(v) = v else {
        return Headers::new();
    };
    let mut h = Headers::with_capacity(v.len);
    for (n, v) in v.into_iter() {
        h.push_shared(shared(doc, n.0).into_bytes(), shared(doc, v.0).into_bytes());
    }
    h
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JsonRequest<'a> {
    #[serde(borrow)]
    pub(super) id: Option<JsonText<'a>>,
    #[serde(borrow)]
    pub(super) method: Option<JsonStr<'a>>,
    #[serde(borrow)]
    pub(super) url: Option<JsonStr<'a>>,
    #[serde(borrow)]
    pub(super) headers: Option<OrderedHeaders<'a>>,
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
    #[serde(borrow)]
    pub(super) id: Option<JsonText<'a>>,
    pub(super) status: Option<u16>,
    #[serde(borrow)]
    pub(super) headers: Option<OrderedHeaders<'a>>,
    #[serde(borrow)]
    pub(super) body: Option<&'a RawValue>,
    pub(super) atomicity_group: Option<String>,
}

/// An `id` as the model's Content-ID: a string as it is, shared with `doc`; a number or any
/// other value as its compact JSON text; `null` as none.
pub(super) fn id_of(v: Option<JsonText<'_>>, doc: &Text) -> Option<Text> {
    v.map(|v| shared(doc, v.0))
}
