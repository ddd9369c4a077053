//! The batch readers' resource limits.

/// Resource limits for every batch reader, in every format and dialect, in both directions.
/// Each is counted as the bytes arrive, never after the fact: a payload over a limit is
/// refused when it crosses it, with an error that names the limit, and memory stays within a
/// small constant above the limits.
///
/// The defaults suit a public `$batch` endpoint: set them from what the service accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadLimits {
    /// Operations in the batch, counted as each one starts, inside changesets and atomicity
    /// groups too: the one operation limit of every reader, format and dialect (validation
    /// has none of its own). Default 1,000 (Google's batch limit); the tower service's default
    /// is 100 ([`BatchConfig`](crate::server::BatchConfig)'s, the limit the seed APIs
    /// document). Error: [`TooManyOperations`](crate::batch::BatchErrorKind::TooManyOperations).
    pub max_operations: usize,
    /// Bytes of one operation's body. Default 16 MiB. Error:
    /// [`BodyTooLarge`](crate::batch::BatchErrorKind::BodyTooLarge).
    pub max_body_bytes: usize,
    /// Bytes of the whole batch as received. Default 64 MiB. Error:
    /// [`BatchTooLarge`](crate::batch::BatchErrorKind::BatchTooLarge).
    pub max_batch_bytes: u64,
    /// Bytes of one operation's headers: a MIME header block or embedded head, or a JSON
    /// element's members other than its body. Default 16 KiB, as the codec core's. Error:
    /// [`HeaderTooLarge`](crate::batch::BatchErrorKind::HeaderTooLarge).
    pub max_header_bytes: usize,
    /// Headers of one operation. Default 128, as the codec core's. Error:
    /// [`TooManyHeaders`](crate::batch::BatchErrorKind::TooManyHeaders).
    pub max_headers_per_request: usize,
    /// Entries of one `dependsOn` list. Default 100. Error:
    /// [`TooManyDependencies`](crate::batch::BatchErrorKind::TooManyDependencies).
    pub max_depends_on: usize,
}

setters!(ReadLimits {
    with_max_operations => max_operations: usize,
    with_max_body_bytes => max_body_bytes: usize,
    with_max_batch_bytes => max_batch_bytes: u64,
    with_max_header_bytes => max_header_bytes: usize,
    with_max_headers_per_request => max_headers_per_request: usize,
    with_max_depends_on => max_depends_on: usize,
});

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_operations: 1000,
            max_body_bytes: 16 << 20,
            max_batch_bytes: 64 << 20,
            max_header_bytes: 16 << 10,
            max_headers_per_request: 128,
            max_depends_on: 100,
        }
    }
}

impl ReadLimits {
    /// Each limit the lower of the two: a server's limits under a dialect's own.
    pub fn min(self, other: ReadLimits) -> ReadLimits {
        ReadLimits {
            max_operations: self.max_operations.min(other.max_operations),
            max_body_bytes: self.max_body_bytes.min(other.max_body_bytes),
            max_batch_bytes: self.max_batch_bytes.min(other.max_batch_bytes),
            max_header_bytes: self.max_header_bytes.min(other.max_header_bytes),
            max_headers_per_request: self
                .max_headers_per_request
                .min(other.max_headers_per_request),
            max_depends_on: self.max_depends_on.min(other.max_depends_on),
        }
    }

    /// The codec core's configuration under these limits: its header limits are the
    /// readers' where those are lower, and its part limit follows `max_operations` (each
    /// operation is a part, and a changeset one more), so that the operation limit is the one
    /// a batch meets.
    pub(crate) fn decoder_config(&self, mut cfg: crate::Config) -> crate::Config {
        cfg.limits.max_header_bytes = cfg.limits.max_header_bytes.min(self.max_header_bytes);
        cfg.limits.max_headers = cfg.limits.max_headers.min(self.max_headers_per_request);
        cfg.limits.max_parts = (self.max_operations as u64)
            .saturating_mul(2)
            .saturating_add(1);
        cfg
    }
}

/// A byte stream that counts what passes and ends with an error once more than
/// `max_batch_bytes` have passed: the batch byte limit, counted as the bytes arrive.
#[derive(Debug)]
pub(crate) struct Metered<S> {
    inner: S,
    seen: u64,
    max: u64,
    over: bool,
}

/// The error of a [`Metered`] stream: its source's, or the batch byte limit's.
#[derive(Debug)]
pub(crate) enum MeterError<E> {
    Source(E),
    Limit(u64),
}

impl<E: core::fmt::Display> core::fmt::Display for MeterError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MeterError::Source(e) => e.fmt(f),
            MeterError::Limit(max) => write!(f, "the batch is over max_batch_bytes ({max})"),
        }
    }
}

impl<E: core::fmt::Display> MeterError<E> {
    pub(crate) fn into_batch_error(self) -> crate::batch::BatchError {
        use crate::batch::{BatchError, BatchErrorKind as K};
        match self {
            MeterError::Source(e) => BatchError::new(K::Source, e.to_string()),
            MeterError::Limit(max) => {
                BatchError::new(K::BatchTooLarge, self.to_string()).at_offset(max)
            }
        }
    }
}

impl<S> Metered<S> {
    pub(crate) fn new(inner: S, max: u64) -> Self {
        Metered {
            inner,
            seen: 0,
            max,
            over: false,
        }
    }
}

impl<S, E> futures_core::Stream for Metered<S>
where
    S: futures_core::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
{
    type Item = Result<bytes::Bytes, MeterError<E>>;

    fn poll_next(
        self: core::pin::Pin<&mut Self>,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<Option<Self::Item>> {
        use core::task::Poll;
        let this = self.get_mut();
        if this.over {
            return Poll::Ready(None);
        }
        match core::pin::Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(b))) => {
                this.seen += b.len() as u64;
                if this.seen > this.max {
                    this.over = true;
                    return Poll::Ready(Some(Err(MeterError::Limit(this.max))));
                }
                Poll::Ready(Some(Ok(b)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(MeterError::Source(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Checks one operation against the per-operation limits.
pub(crate) fn check_op(
    limits: &ReadLimits,
    headers: &crate::batch::Headers,
    body_len: usize,
    depends_on: usize,
) -> Result<(), crate::batch::BatchError> {
    use crate::batch::{BatchError, BatchErrorKind as K};
    if body_len > limits.max_body_bytes {
        return Err(BatchError::new(
            K::BodyTooLarge,
            format!("a body is over max_body_bytes ({})", limits.max_body_bytes),
        ));
    }
    let fields = headers.len();
    if fields > limits.max_headers_per_request {
        return Err(BatchError::new(
            K::TooManyHeaders,
            format!(
                "{fields} headers, over max_headers_per_request ({})",
                limits.max_headers_per_request
            ),
        ));
    }
    let bytes = headers.wire_len();
    if bytes > limits.max_header_bytes {
        return Err(BatchError::new(
            K::HeaderTooLarge,
            format!(
                "headers are over max_header_bytes ({})",
                limits.max_header_bytes
            ),
        ));
    }
    if depends_on > limits.max_depends_on {
        return Err(BatchError::new(
            K::TooManyDependencies,
            format!(
                "{depends_on} dependencies, over max_depends_on ({})",
                limits.max_depends_on
            ),
        ));
    }
    Ok(())
}
