//! A counting global allocator for the "no allocation in the request path" rule (STYLE 3).
//!
//! A test binary installs it with
//! `#[global_allocator] static A: CountingAlloc = CountingAlloc;` and wraps the code under
//! test in [`count`]. Only allocations made on the calling thread while [`count`] runs are
//! counted (the test harness's other threads, and other tests measuring at the same time,
//! neither add to nor disturb the count: both the flag and the counter are per thread);
//! every allocation, reallocation and zeroed allocation counts, deallocations do not.
//!
//! The thread-locals are `const`-initialised `Cell`s without destructors, so touching them
//! never allocates (which would recurse into the allocator).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

/// Allocations counted on all threads since start (for diagnostics only).
static TOTAL: AtomicUsize = AtomicUsize::new(0);

/// The counting allocator: [`System`] plus a counter of armed allocations.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAlloc;

fn note() {
    // `try_with`: during thread teardown the flag may be gone; nothing is armed then.
    if ARMED.try_with(Cell::get).unwrap_or(false) {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        TOTAL.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract holds exactly as it does for `System`; the counting touches only an
// atomic and thread-local `Cell`s, none of which allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: forwarded unchanged; `ptr` was allocated by `System` through this type.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; `ptr` was allocated by `System` through this type.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Runs `f` with counting armed on this thread; returns its result and the number of
/// allocations it made. Not reentrant.
pub fn count<R>(f: impl FnOnce() -> R) -> (R, usize) {
    struct Disarm;
    impl Drop for Disarm {
        fn drop(&mut self) {
            ARMED.with(|a| a.set(false));
        }
    }
    assert!(
        !ARMED.with(Cell::get),
        "alloc_count::count is not reentrant"
    );
    let before = COUNT.with(Cell::get);
    ARMED.with(|a| a.set(true));
    let guard = Disarm;
    let r = f();
    drop(guard);
    (r, COUNT.with(Cell::get) - before)
}

/// Allocations counted so far on all threads, while armed.
pub fn total() -> usize {
    TOTAL.load(Ordering::Relaxed)
}
