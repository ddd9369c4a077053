//! What the writer produces: the body as `Bytes` segments (a `Buf`), or as a `Stream` of
//! `Bytes` that searches body streams for delimiters as they pass.

use std::collections::VecDeque;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::content_type_of;
#[cfg(feature = "stream")]
use super::Segment;
#[cfg(feature = "stream")]
use super::{BodyStream, BoxError};
#[cfg(feature = "stream")]
use crate::encoder::{EncodeError, EncodeErrorKind};

/// An encoded body: `Bytes` segments, framing and untouched bodies in turn.
#[derive(Debug, Clone, Default)]
pub struct Encoded {
    pub(super) segs: VecDeque<Bytes>,
    pub(super) remaining: usize,
    pub(super) boundary: Bytes,
}

impl Encoded {
    /// The top-level boundary the body was written with (a generated one may have been
    /// chosen anew at finish).
    pub fn boundary(&self) -> &[u8] {
        &self.boundary
    }

    /// The `Content-Type` value for the body: `multipart/<subtype>; boundary=...`.
    pub fn content_type(&self, subtype: &str) -> String {
        content_type_of(&self.boundary, subtype)
    }

    /// The segments, in order.
    pub fn segments(&self) -> impl Iterator<Item = &Bytes> {
        self.segs.iter()
    }

    /// The whole body as one `Bytes`: the segment itself when there is one, a single copy
    /// otherwise (for callers that need contiguous bytes, such as a `Full` body).
    pub fn into_bytes(mut self) -> Bytes {
        let n = self.remaining;
        self.copy_to_bytes(n)
    }

    /// The total length, for a `Content-Length`.
    pub fn len(&self) -> usize {
        self.remaining
    }

    /// True when nothing is left.
    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }

    /// As a `Stream` of `Bytes` that never fails.
    #[cfg(feature = "stream")]
    pub fn into_stream(
        self,
    ) -> crate::stream::Iter<impl Iterator<Item = Result<Bytes, std::convert::Infallible>> + Unpin>
    {
        crate::stream::iter(self.map(Ok))
    }
}

impl Iterator for Encoded {
    type Item = Bytes;
    fn next(&mut self) -> Option<Bytes> {
        let b = self.segs.pop_front()?;
        self.remaining -= b.len();
        Some(b)
    }
}

impl Buf for Encoded {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.segs.front().map_or(&[], |b| &b[..])
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.remaining, "advance past the end");
        self.remaining -= cnt;
        while cnt > 0 {
            let front = self
                .segs
                .front_mut()
                .expect("remaining counts the segments");
            if cnt < front.len() {
                front.advance(cnt);
                return;
            }
            cnt -= front.len();
            self.segs.pop_front();
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [std::io::IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, seg) in dst.iter_mut().zip(self.segs.iter()) {
            *slot = std::io::IoSlice::new(seg);
            n += 1;
        }
        n
    }

    fn copy_to_bytes(&mut self, len: usize) -> Bytes {
        // A request for exactly the front segment hands that segment over, uncopied.
        if self.segs.front().is_some_and(|f| f.len() == len) {
            self.remaining -= len;
            return self.segs.pop_front().expect("front");
        }
        let mut out = BytesMut::with_capacity(len);
        out.put(Buf::take(&mut *self, len));
        out.freeze()
    }
}

/// A part of the output stream.
#[cfg(feature = "stream")]
pub(super) enum Out {
    Bytes(Bytes),
    Stream(BodyStream, Option<DelimiterScan>),
}

#[cfg(feature = "stream")]
impl Segment {
    pub(super) fn scanned(self) -> Out {
        match self {
            Segment::Frame(b) | Segment::Body(b) => Out::Bytes(b),
            Segment::Stream(s, levels) => Out::Stream(s, levels.map(|l| DelimiterScan::new(&l))),
        }
    }
}

/// Searches a body of unknown length for the delimiters of the levels it stands in, across
/// chunk edges: each chunk is searched once, and the last delimiter's length less one of the
/// bytes before it once more, where a delimiter could straddle the edge.
#[cfg(feature = "stream")]
pub(super) struct DelimiterScan {
    /// `LF -- boundary` of each level, built once.
    finders: Vec<memchr::memmem::Finder<'static>>,
    /// The bytes before the next chunk that a delimiter could begin in; at first a virtual LF,
    /// since the body starts after a line end.
    tail: Vec<u8>,
    keep: usize,
}

#[cfg(feature = "stream")]
impl DelimiterScan {
    fn new(boundaries: &[Vec<u8>]) -> Self {
        let finders: Vec<_> = boundaries
            .iter()
            .map(|b| memchr::memmem::Finder::new(&[b"\n--".as_slice(), b].concat()).into_owned())
            .collect();
        let keep = finders.iter().map(|f| f.needle().len()).max().unwrap_or(1) - 1;
        DelimiterScan {
            finders,
            tail: b"\n".to_vec(),
            keep,
        }
    }

    /// True when the stream, up to and with `chunk`, holds a delimiter.
    fn push(&mut self, chunk: &[u8]) -> bool {
        let edge = self.keep.min(chunk.len());
        self.tail.extend_from_slice(&chunk[..edge]);
        let found = self
            .finders
            .iter()
            .any(|f| f.find(&self.tail).is_some() || f.find(chunk).is_some());
        let from = if chunk.len() >= self.keep {
            self.tail.clear();
            chunk.len() - self.keep
        } else {
            let drop = self.tail.len().saturating_sub(self.keep);
            self.tail.drain(..drop);
            chunk.len()
        };
        self.tail.extend_from_slice(&chunk[from..]);
        found
    }
}

/// An encoded body as a `Stream` of `Bytes`; body streams are polled in turn, and searched
/// for delimiters as they pass.
#[cfg(feature = "stream")]
pub struct EncodedStream {
    pub(super) segs: VecDeque<Out>,
    pub(super) boundary: Bytes,
}

#[cfg(feature = "stream")]
impl EncodedStream {
    /// The top-level boundary the body is written with (a generated one may have been
    /// chosen anew at finish).
    pub fn boundary(&self) -> &[u8] {
        &self.boundary
    }

    /// The `Content-Type` value for the body: `multipart/<subtype>; boundary=...`.
    pub fn content_type(&self, subtype: &str) -> String {
        content_type_of(&self.boundary, subtype)
    }
}

#[cfg(feature = "stream")]
impl core::fmt::Debug for EncodedStream {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EncodedStream")
            .field("segments", &self.segs.len())
            .finish()
    }
}

#[cfg(feature = "stream")]
impl futures_core::Stream for EncodedStream {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(
        self: core::pin::Pin<&mut Self>,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<Option<Self::Item>> {
        use core::task::Poll;
        let this = self.get_mut();
        loop {
            match this.segs.front_mut() {
                None => return Poll::Ready(None),
                Some(Out::Bytes(_)) => {
                    if let Some(Out::Bytes(b)) = this.segs.pop_front() {
                        return Poll::Ready(Some(Ok(b)));
                    }
                }
                Some(Out::Stream(s, scan)) => match s.as_mut().poll_next(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(Ok(b))) if b.is_empty() => {}
                    Poll::Ready(Some(Ok(b))) => {
                        if scan.as_mut().is_some_and(|sc| sc.push(&b)) {
                            // Nothing more is sent: the output ends with the error.
                            this.segs.clear();
                            let e = EncodeError::new(EncodeErrorKind::BoundaryInBody);
                            return Poll::Ready(Some(Err(Box::new(e))));
                        }
                        return Poll::Ready(Some(Ok(b)));
                    }
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                    Poll::Ready(None) => {
                        this.segs.pop_front();
                    }
                },
            }
        }
    }
}
