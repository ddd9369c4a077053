//! Driving a future on the current thread, for the whole-buffer conveniences
//! (`read_multipart`, `read_json`, ...) that run an incremental reader over bytes already in
//! memory. Not public: async callers await the readers on their own runtime.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::sync::Arc;
use std::task::Wake;

use futures_core::Stream;

struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `fut` to completion, parking the thread between wake-ups.
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    let waker = Arc::new(Unpark(std::thread::current())).into();
    let mut cx = Context::from_waker(&waker);
    let mut fut = core::pin::pin!(fut);
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park(),
        }
    }
}

/// The next item of `s`.
pub(crate) fn next<S: Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    block_on(core::future::poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)))
}
