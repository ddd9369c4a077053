//! The two ways a sans-IO multipart reader is driven: by a `Stream` of chunks (an adapter that
//! polls the part-event stream and pushes each event in), or over a buffer already in memory
//! (one decoder feed, the events pushed as they are decoded: no executor, no waker).
//!
//! The readers themselves ([`MultipartItems`](super::multipart::MultipartItems), RingCentral's
//! plain parts) know nothing of either: part events go in, values come out.

use core::pin::Pin;
use core::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;

use crate::batch::error::BatchError;
use crate::batch::model::limits::{MeterError, Metered, ReadLimits};
use crate::stream::{PartEvent, PartStream, StreamError};
use crate::Config;

/// A sans-IO reader of part events.
pub(crate) trait Machine {
    /// What it reads: an item, a part's body.
    type Out;

    /// The limits it reads under; the driver counts the batch bytes and configures the
    /// decoder from them.
    fn limits(&self) -> &ReadLimits;

    /// One event in, with the offset the decoder had reached after it; a value out when one
    /// is complete. An error is final.
    fn push(&mut self, ev: PartEvent, at: u64) -> Result<Option<Self::Out>, BatchError>;
}

/// An error without an offset gets the one the decoder had reached.
fn located(e: BatchError, at: u64) -> BatchError {
    match e.offset() {
        Some(_) => e,
        None => e.at_offset(at),
    }
}

/// The validated boundary a multipart `Content-Type` names, read in this mode (see
/// [`ContentType::parse_lenient`](crate::ContentType::parse_lenient)); its errors are at
/// offset 0, the value not being part of the body.
pub(crate) fn boundary_of(content_type: &[u8], strict: bool) -> Result<Vec<u8>, BatchError> {
    let at0 = |e: crate::Error| BatchError::from(crate::Error::new(e.kind(), 0));
    let ct = crate::ContentType::parse_in(content_type, strict).map_err(at0)?;
    // `multipart_boundary` validates it: once.
    Ok(ct.multipart_boundary().map_err(at0)?.to_vec())
}

/// Reads a whole body in memory through `m`: the batch byte limit first (the whole body has
/// arrived), then one decoder feed.
pub(crate) fn read_whole<M: Machine>(
    m: &mut M,
    body: &Bytes,
    content_type: &[u8],
    cfg: Config,
) -> Result<Vec<M::Out>, BatchError> {
    let limits = *m.limits();
    let boundary = boundary_of(content_type, cfg.strict)?;
    if body.len() as u64 > limits.max_batch_bytes {
        return Err(
            MeterError::<core::convert::Infallible>::Limit(limits.max_batch_bytes)
                .into_batch_error(),
        );
    }
    let mut out = Vec::new();
    crate::stream::each_event(body, &boundary, limits.decoder_config(cfg), |ev, at| {
        if let Some(v) = m.push(ev, at).map_err(|e| located(e, at))? {
            out.push(v);
        }
        Ok::<_, BatchError>(())
    })?;
    Ok(out)
}

/// The part events of a stream, started at the first poll so that the configuration and
/// limits set before it apply.
enum Events<S> {
    Unstarted {
        inner: S,
        boundary: Vec<u8>,
        /// Why strict mode refuses the Content-Type that the lenient rule read, if it does.
        strict_error: Option<BatchError>,
        cfg: Config,
    },
    Started(Box<PartStream<Metered<S>>>),
    Done,
}

/// A sans-IO reader driven by a stream of chunks.
pub(crate) struct Driven<S, M> {
    events: Events<S>,
    pub(crate) machine: M,
}

impl<S, E, M> Driven<S, M>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: core::fmt::Display,
    M: Machine,
{
    /// Reads `inner`, a body with this `Content-Type` read by the lenient rule; a strict
    /// [`config`](Self::config) refuses, at the first poll, a value only that rule accepts.
    pub(crate) fn new(inner: S, content_type: &[u8], machine: M) -> Result<Self, BatchError> {
        Ok(Driven {
            events: Events::Unstarted {
                inner,
                boundary: boundary_of(content_type, false)?,
                strict_error: boundary_of(content_type, true).err(),
                cfg: Config::default(),
            },
            machine,
        })
    }

    /// Decodes with this configuration, if no event has been read yet.
    pub(crate) fn config(&mut self, new: Config) {
        if let Events::Unstarted { cfg, .. } = &mut self.events {
            *cfg = new;
        }
    }

    /// Starts the part events, or ends with the strict mode's refusal of the Content-Type.
    fn start(&mut self) -> Result<(), BatchError> {
        if !matches!(self.events, Events::Unstarted { .. }) {
            return Ok(());
        }
        let Events::Unstarted {
            inner,
            boundary,
            strict_error,
            cfg,
        } = core::mem::replace(&mut self.events, Events::Done)
        else {
            return Ok(());
        };
        if let (true, Some(e)) = (cfg.strict, strict_error) {
            return Err(e);
        }
        let limits = self.machine.limits();
        let metered = Metered::new(inner, limits.max_batch_bytes);
        let events = PartStream::with_config(metered, &boundary, limits.decoder_config(cfg))?;
        self.events = Events::Started(Box::new(events));
        Ok(())
    }

    /// The next value, or the end; after an error, the end.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<M::Out, BatchError>>> {
        if let Err(e) = self.start() {
            return Poll::Ready(Some(Err(e)));
        }
        loop {
            let Events::Started(events) = &mut self.events else {
                return Poll::Ready(None);
            };
            let ev = match Pin::new(&mut **events).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(ev))) => ev,
                Poll::Ready(None) => {
                    self.events = Events::Done;
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Err(e))) => {
                    self.events = Events::Done;
                    return Poll::Ready(Some(Err(match e {
                        StreamError::Decode(e) => e.into(),
                        StreamError::Source(e) => e.into_batch_error(),
                    })));
                }
            };
            let at = events.event_end();
            match self.machine.push(ev, at) {
                Ok(None) => {}
                Ok(Some(v)) => return Poll::Ready(Some(Ok(v))),
                Err(e) => {
                    self.events = Events::Done;
                    return Poll::Ready(Some(Err(located(e, at))));
                }
            }
        }
    }
}
