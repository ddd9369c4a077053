//! The next item of a stream that is always ready: the test and example streams are chunks
//! already in memory or read from a file, so nothing ever waits, and no executor is needed.
#![allow(dead_code)]

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_core::Stream;

struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

thread_local! {
    // One waker per thread, so that polling allocates nothing per item.
    static WAKER: Waker = Arc::new(Noop).into();
}

/// Polls `s` once for its next item; a stream that is not ready is a bug in the caller.
pub fn block_on_next<S: Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    WAKER.with(
        |w| match Pin::new(s).poll_next(&mut Context::from_waker(w)) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("a stream over chunks in memory is always ready"),
        },
    )
}

/// Runs a future whose every await is ready at once (handlers that answer from memory).
pub fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    WAKER.with(|w| match fut.as_mut().poll(&mut Context::from_waker(w)) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a future over data in memory is always ready"),
    })
}
