//! A counting global allocator: the peak of bytes allocated while a piece of code runs, for
//! the tests that bound memory by counting rather than timing.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static CURRENT: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = CURRENT.try_with(|c| {
        let now = c.get() + delta;
        c.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

// SAFETY: delegates to the system allocator and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        track(l.size() as isize);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        track(-(l.size() as isize));
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        track(n as isize - l.size() as isize);
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Starts a measurement on this thread; pass the mark to [`peak_since`].
pub fn mark() -> isize {
    let base = CURRENT.with(Cell::get);
    PEAK.with(|p| p.set(base));
    base
}

/// The peak of bytes allocated on this thread since `mark`.
pub fn peak_since(mark: isize) -> usize {
    (PEAK.with(Cell::get) - mark).max(0) as usize
}

/// Runs `f`, returning its result and the peak bytes it allocated.
pub fn peak<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let m = mark();
    let r = f();
    (r, peak_since(m))
}
