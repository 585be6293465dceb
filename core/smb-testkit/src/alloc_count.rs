//! A counting global allocator for the "no allocation in the request path" rule (STYLE 3).
//!
//! A test binary installs it with
//! `#[global_allocator] static A: CountingAlloc = CountingAlloc;` and wraps the code under
//! test in [`count`]. Only allocations made on the calling thread while [`count`] runs are
//! counted (the test harness's other threads, and other tests measuring at the same time,
//! neither add to nor disturb the count: both the flag and the counter are per thread);
//! every allocation, reallocation and zeroed allocation counts, deallocations do not.
//!
//! For code that runs on threads the test does not control (a real server's event loop),
//! there is a second, global mode: such a thread calls [`mark_counted_thread`] before it runs,
//! and the test brackets the measured part with [`arm`] and [`disarm`]. While armed, every
//! allocation on a marked thread is counted ([`armed_count`]); unmarked threads (the test's
//! client, the harness) are never counted. The first counted allocation also records where it
//! happened: [`first_backtrace`] returns its backtrace, captured with counting suspended on
//! that thread (capturing allocates).
//!
//! The thread-locals are `const`-initialised `Cell`s without destructors, so touching them
//! never allocates (which would recurse into the allocator); the counting path of both modes
//! touches only those and atomics.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
    /// This thread is counted while [`GLOBAL_ARMED`] is set ([`mark_counted_thread`]).
    static MARKED: Cell<bool> = const { Cell::new(false) };
    /// A backtrace is being captured on this thread: its own allocations are not counted.
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
}

/// [`arm`]ed: allocations on marked threads count.
static GLOBAL_ARMED: AtomicBool = AtomicBool::new(false);
/// Allocations counted on marked threads since the last [`arm`].
static GLOBAL_COUNT: AtomicUsize = AtomicUsize::new(0);
/// Where the first of them happened.
static FIRST: Mutex<Option<Backtrace>> = Mutex::new(None);

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
    if GLOBAL_ARMED.load(Ordering::Relaxed)
        && MARKED.try_with(Cell::get).unwrap_or(false)
        && !CAPTURING.try_with(Cell::get).unwrap_or(true)
    {
        TOTAL.fetch_add(1, Ordering::Relaxed);
        if GLOBAL_COUNT.fetch_add(1, Ordering::Relaxed) == 0 {
            record_first();
        }
    }
}

/// Records the backtrace of the first counted allocation. Runs inside the allocator, before
/// the allocation is made; capturing allocates, so counting is suspended on this thread
/// meanwhile (the allocator may be re-entered: it only forwards to `System`).
#[cold]
fn record_first() {
    CAPTURING.with(|c| c.set(true));
    let bt = Backtrace::force_capture();
    // `try_lock`: never wait inside the allocator (a second first cannot happen: the counter
    // was 0 only once since `arm`).
    if let Ok(mut first) = FIRST.try_lock() {
        if first.is_none() {
            *first = Some(bt);
        }
    }
    CAPTURING.with(|c| c.set(false));
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

/// Makes allocations on the calling thread count while [`arm`]ed. Call it on each thread of
/// the code under test (for a server: its event loop, and any thread it starts) before that
/// thread does the work to be measured. Marking lasts for the thread's lifetime.
pub fn mark_counted_thread() {
    MARKED.with(|m| m.set(true));
}

/// Whether the calling thread is marked ([`mark_counted_thread`]): code under test that
/// starts threads can have them marked too when, and only when, their starter is.
pub fn is_counted_thread() -> bool {
    MARKED.with(Cell::get)
}

/// Starts counting allocations on marked threads: resets [`armed_count`] and forgets the
/// previous [`first_backtrace`].
pub fn arm() {
    // Taking the old backtrace out (and dropping it) happens before arming, so its
    // deallocation is never measured; nothing here allocates.
    let old = FIRST.lock().unwrap_or_else(|e| e.into_inner()).take();
    drop(old);
    GLOBAL_COUNT.store(0, Ordering::SeqCst);
    GLOBAL_ARMED.store(true, Ordering::SeqCst);
}

/// Stops counting on marked threads; returns [`armed_count`].
pub fn disarm() -> usize {
    GLOBAL_ARMED.store(false, Ordering::SeqCst);
    armed_count()
}

/// Allocations counted on marked threads since the last [`arm`].
pub fn armed_count() -> usize {
    GLOBAL_COUNT.load(Ordering::SeqCst)
}

/// The backtrace of the first allocation counted since the last [`arm`] (captured, not yet
/// symbolized: printing it resolves the symbols), or `None` if there was none.
pub fn first_backtrace() -> Option<Backtrace> {
    FIRST.lock().unwrap_or_else(|e| e.into_inner()).take()
}
