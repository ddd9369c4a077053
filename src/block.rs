//! Driving a stream on the current thread, for the whole-buffer conveniences
//! (`read_multipart`, `read_json`, ...) that run an incremental reader over bytes already in
//! memory. Not public: async callers await the readers on their own runtime.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use std::sync::Arc;
use std::task::Wake;

use futures_core::Stream;

struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// A waker that unparks the thread that made it.
fn thread_waker() -> Waker {
    Arc::new(Unpark(std::thread::current())).into()
}

/// Runs `fut` to completion with `waker`, parking the thread between wake-ups.
fn run<F: Future>(fut: F, waker: &Waker) -> F::Output {
    let mut cx = Context::from_waker(waker);
    let mut fut = core::pin::pin!(fut);
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park(),
        }
    }
}

/// The items of `s`, each awaited in turn; one waker serves them all.
pub(crate) fn items<S: Stream + Unpin>(s: &mut S) -> Items<'_, S> {
    Items {
        s,
        waker: thread_waker(),
    }
}

/// See [`items`].
pub(crate) struct Items<'a, S> {
    s: &'a mut S,
    waker: Waker,
}

impl<S: Stream + Unpin> Iterator for Items<'_, S> {
    type Item = S::Item;

    fn next(&mut self) -> Option<S::Item> {
        let s = &mut *self.s;
        run(
            core::future::poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)),
            &self.waker,
        )
    }
}
