//! The next item of a stream that is always ready: the tool reads chunks from a file or from
//! stdin, synchronously, so a poll never waits and no executor is needed.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_core::Stream;

struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

thread_local! {
    // One waker for the process's one thread, so that a poll allocates nothing.
    static WAKER: Waker = Arc::new(Noop).into();
}

/// Polls `s` once for its next item.
pub(crate) fn block_on_next<S: Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    WAKER.with(
        |w| match Pin::new(s).poll_next(&mut Context::from_waker(w)) {
            Poll::Ready(v) => v,
            // The readers wait only on their source, and the tool's source is always ready.
            Poll::Pending => unreachable!("a stream over synchronous reads is always ready"),
        },
    )
}
