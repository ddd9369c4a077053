//! The bodies the service deals in: the batch request's body read as a stream of `Bytes`, each
//! operation's body for the inner service, and the answer, written as operations complete.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};

use crate::batch::{BatchError, BatchErrorKind};

/// An incoming body as a stream of `Bytes` (trailers are skipped), for the batch readers.
pub(crate) struct Incoming<B>(pub(crate) Pin<Box<B>>);

impl<B> futures_core::Stream for Incoming<B>
where
    B: Body,
    B::Error: core::fmt::Display,
{
    type Item = Result<Bytes, BatchError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            return match self.0.as_mut().poll_frame(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(BatchError::new(
                    BatchErrorKind::Source,
                    format!("reading the request body: {e}"),
                )))),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(mut d) => Poll::Ready(Some(Ok(d.copy_to_bytes(d.remaining())))),
                    Err(_) => continue,
                },
            };
        }
    }
}

/// What [`collect`] reads whole, for its limit's error.
#[derive(Clone, Copy)]
pub(crate) enum Whole {
    /// A batch read whole (RingCentral, a `batch::Dialect`): over `max_batch_bytes`.
    Batch,
    /// An operation's answer from the inner service: over `max_body_bytes`.
    Answer,
}

/// Reads a body whole, refusing it past `max` bytes as they arrive; one frame stays shared.
pub(crate) async fn collect<B>(body: B, max: u64, what: Whole) -> Result<Bytes, BatchError>
where
    B: Body,
    B::Error: core::fmt::Display,
{
    let mut body = Box::pin(body);
    let mut acc = crate::batch::formats::multipart::Body::default();
    loop {
        let frame = core::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await;
        let Some(frame) = frame else {
            return Ok(acc.into_bytes());
        };
        let (kind, name) = match what {
            Whole::Batch => (BatchErrorKind::BatchTooLarge, "the batch"),
            Whole::Answer => (BatchErrorKind::BodyTooLarge, "the operation's answer"),
        };
        let frame = frame
            .map_err(|e| BatchError::new(BatchErrorKind::Source, format!("reading {name}: {e}")))?;
        if let Ok(mut d) = frame.into_data() {
            let d = d.copy_to_bytes(d.remaining());
            if (acc.len() + d.len()) as u64 > max {
                return Err(BatchError::new(kind, format!("{name} is over {max} bytes")));
            }
            acc.push(d);
        }
    }
}

/// The body of one operation's request to the inner service: the operation's bytes, in one
/// frame.
#[derive(Debug, Default)]
pub struct OpBody(Option<Bytes>);

impl OpBody {
    /// A body of these bytes.
    pub fn new(bytes: Bytes) -> Self {
        OpBody((!bytes.is_empty()).then_some(bytes))
    }
}

impl Body for OpBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.take().map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.as_ref().map_or(0, |b| b.len() as u64))
    }
}

/// Written output waiting for the client: filled by the run as operations complete, drained
/// by [`BatchBody`].
pub(crate) type Queue = Arc<Mutex<VecDeque<Bytes>>>;

pub(crate) fn push(queue: &Queue, chunks: impl IntoIterator<Item = Bytes>) {
    // A poisoned lock only means a panic elsewhere; the bytes are still whole.
    let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
    q.extend(chunks.into_iter().filter(|b| !b.is_empty()));
}

/// Whether written output waits for the client.
pub(crate) fn waiting(queue: &Queue) -> bool {
    !queue.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
}

fn pop(queue: &Queue) -> Option<Bytes> {
    queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
}

/// The answer to a batch: a whole body, or one written as its operations complete. The run
/// is driven by reading the body, so operations only go ahead as fast as the client reads,
/// and what waits in memory is at most the answers of the operations in flight.
pub struct BatchBody(Kind);

enum Kind {
    Whole(Option<Bytes>),
    Streaming {
        run: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
        queue: Queue,
    },
}

impl core::fmt::Debug for BatchBody {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self.0 {
            Kind::Whole(_) => "BatchBody::Whole",
            Kind::Streaming { .. } => "BatchBody::Streaming",
        })
    }
}

impl BatchBody {
    pub(crate) fn whole(bytes: Bytes) -> Self {
        BatchBody(Kind::Whole(Some(bytes)))
    }

    pub(crate) fn streaming(run: Pin<Box<dyn Future<Output = ()> + Send>>, queue: Queue) -> Self {
        BatchBody(Kind::Streaming {
            run: Some(run),
            queue,
        })
    }

    /// The queue a streaming body's run writes to.
    pub(crate) fn queue(&self) -> Option<Queue> {
        match &self.0 {
            Kind::Whole(_) => None,
            Kind::Streaming { queue, .. } => Some(queue.clone()),
        }
    }
}

/// Takes everything the queue holds, in order.
pub(crate) fn drain(queue: &Queue, into: &mut Vec<u8>) {
    while let Some(b) = pop(queue) {
        into.extend_from_slice(&b);
    }
}

impl Body for BatchBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.0 {
            Kind::Whole(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Streaming { run, queue } => loop {
                if let Some(b) = pop(queue) {
                    return Poll::Ready(Some(Ok(Frame::data(b))));
                }
                let Some(r) = run else {
                    return Poll::Ready(None);
                };
                match r.as_mut().poll(cx) {
                    Poll::Ready(()) => *run = None,
                    // Written while polled: hand it out now.
                    Poll::Pending if waiting(queue) => {}
                    Poll::Pending => return Poll::Pending,
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Kind::Whole(b) => b.is_none(),
            Kind::Streaming { .. } => false,
        }
    }
}
