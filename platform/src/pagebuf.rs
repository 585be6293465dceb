//! Page-backed buffers for the frame pools: an anonymous mapping per buffer, so that the
//! memory of a buffer nobody is using can be handed back to the kernel (`MADV_DONTNEED`)
//! without freeing the buffer.
//!
//! Why not `Vec<u8>`: after the first large transfer the buffers that were in use at once stay
//! resident (megabytes each, `max_io` sized), and freeing them does not reliably return the
//! memory either: glibc raises its mmap threshold after freeing a mapped chunk, so the next
//! buffers of that size come from the heap, which is not given back. A NAS wants that memory
//! back as page cache once the transfer is over; `Pool::trim` releases idle buffers' pages.
//!
//! The engine's tables come from here too ([`table_slots`]): one zero-filled mapping per
//! table, never written at start-up, so a table sized for the board's worst case (thousands
//! of opens) is resident only as far as it has been used.
//!
//! This is the platform crate's only `unsafe`: creating, viewing, advising and unmapping
//! private anonymous mappings, viewing a fresh one as empty table slots, and one glibc
//! `mallopt` call ([`pin_malloc_threshold`]).
#![allow(unsafe_code)]

use std::ptr::NonNull;

use rustix::mm::{self, MapFlags, ProtFlags};

/// A zero-initialised, read-write buffer of `len` bytes in its own anonymous mapping.
#[derive(Debug)]
pub struct PageBuf {
    ptr: NonNull<u8>,
    len: usize,
}

impl PageBuf {
    /// Maps `len` bytes (at least one page). Pages become resident only when written.
    pub fn new(len: usize) -> std::io::Result<Self> {
        let len = len.max(1);
        // SAFETY: a new private anonymous mapping at an address the kernel chooses: no
        // existing memory is touched. The result is checked before use.
        let p = unsafe {
            mm::mmap_anonymous(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE,
            )
        }?;
        let ptr = NonNull::new(p.cast::<u8>())
            .ok_or_else(|| std::io::Error::other("mmap returned a null mapping"))?;
        Ok(Self { ptr, len })
    }

    /// The whole buffer.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` is a live read-write mapping of `len` bytes owned by `self` (unmapped
        // only in `drop`); `&mut self` makes this the only reference to it for its lifetime.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// Gives the buffer's pages back to the kernel; it reads as zeros afterwards and its pages
    /// become resident again as they are written.
    pub fn release(&mut self) {
        // SAFETY: the range is exactly our own private anonymous mapping, and `&mut self`
        // guarantees no slice of it is alive, so nothing observes the contents changing to
        // zeros. Failure (it cannot fail for a valid private mapping) only keeps the memory.
        let _ = unsafe {
            mm::madvise(
                self.ptr.as_ptr().cast(),
                self.len,
                mm::Advice::LinuxDontNeed,
            )
        };
    }
}

impl Drop for PageBuf {
    fn drop(&mut self) {
        // SAFETY: our own mapping, unmapped once; no slice of it outlives `self`.
        let _ = unsafe { mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// Keeps glibc's malloc from holding on to large freed blocks: by default, once a block above
/// 128 KiB (mapped) is freed, glibc raises its mapping threshold to that size, and later blocks
/// of that size come from the heap, which it does not give back (start-up alone, replaying the
/// account store's segment, left ~1 MiB resident that way). Pinning the threshold keeps large
/// blocks mapped, so freeing one returns its memory. musl always does this.
pub fn pin_malloc_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
        }
        const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
        // SAFETY: mallopt is glibc's documented tuning call, safe to call at any time; it is
        // called at start-up before any other thread exists. A failure keeps the default.
        let _ = unsafe { mallopt(M_MMAP_THRESHOLD, 128 * 1024) };
    }
}

/// Storage for an engine table of `n` slots that lives for the rest of the process: a fresh
/// anonymous mapping, zero-filled by the kernel and never written here, so its pages become
/// resident only as the table grows into them.
pub fn table_slots<T>(n: usize) -> std::io::Result<&'static mut [smb_proto::Slot<T>]> {
    let size = size_of::<smb_proto::Slot<T>>();
    let bytes = size
        .checked_mul(n)
        .ok_or_else(|| std::io::Error::other("table size overflows"))?;
    if n == 0 || size == 0 {
        return Ok(&mut []);
    }
    // Mappings are page aligned; no slot type needs more.
    if align_of::<smb_proto::Slot<T>>() > 4096 {
        return Err(std::io::Error::other("slot alignment above a page"));
    }
    let buf = PageBuf::new(bytes)?;
    let ptr = buf.ptr.as_ptr().cast::<smb_proto::Slot<T>>();
    // The mapping is never unmapped: the table lives as long as the process.
    std::mem::forget(buf);
    // SAFETY: `ptr` starts a private read-write mapping of at least `n * size` bytes that
    // nothing else references (the owning PageBuf was forgotten, so it is never unmapped or
    // handed out again), page aligned, so aligned for `Slot<T>`. The kernel fills it with
    // zeros, and an all-zero `Slot<T>` is a valid empty slot by that type's documented
    // contract (generation 0, `#[repr(u8)]` tag 0 = empty, payload bytes unconstrained).
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, n) })
}

#[cfg(test)]
mod tests {
    use super::PageBuf;

    /// A table slot bigger than a page, like a session.
    struct Big {
        bytes: [u8; 5000],
        flag: bool,
    }

    #[test]
    fn table_slots_are_empty_and_resident_only_where_used() {
        let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let slots = super::table_slots::<Big>(4096).expect("mmap");
        let addr = slots.as_ptr() as usize;
        assert!(
            mapping_rss_kib(addr) < 64,
            "an unused table is not resident"
        );
        let mut t = smb_proto::table::Table::new(slots);
        assert_eq!((t.len(), t.capacity()), (0, 4096));
        let mut handles = Vec::new();
        for i in 0..3u8 {
            let h = t
                .insert(Big {
                    bytes: [i; 5000],
                    flag: i == 1,
                })
                .expect("room");
            assert_eq!(h.index, u32::from(i));
            handles.push(h);
        }
        assert!(t
            .get(handles[1])
            .is_some_and(|b| b.flag && b.bytes[4999] == 1));
        assert!(t.remove(handles[0]).is_some());
        assert!(t.get(handles[0]).is_none());
        let rss = mapping_rss_kib(addr);
        assert!(
            (8..=64).contains(&rss),
            "three 5 KB slots touch a few pages, not the table's 20 MB: {rss} KiB"
        );
        assert!(super::table_slots::<Big>(0).expect("empty").is_empty());
        assert!(super::table_slots::<Big>(usize::MAX).is_err());
    }

    /// The kernel merges adjacent anonymous mappings, so these tests take turns: one's
    /// mapping could otherwise grow into the other's and be counted with it.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// Resident KiB of the mapping that starts at `addr` (from /proc/self/smaps), so other
    /// tests running in this process do not disturb the figure.
    fn mapping_rss_kib(addr: usize) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
        let mut inside = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ') {
                if let Some((start, _)) = range.split_once('-') {
                    if let Ok(start) = usize::from_str_radix(start, 16) {
                        inside = start == addr;
                        continue;
                    }
                }
            }
            if inside {
                if let Some(v) = line.strip_prefix("Rss:") {
                    return v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                }
            }
        }
        0
    }

    #[test]
    fn buffers_start_zeroed_and_release_gives_pages_back() {
        let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let mut b = PageBuf::new(8 << 20).expect("mmap");
        let addr = b.ptr.as_ptr() as usize;
        assert!(b.as_mut_slice().iter().step_by(4096).all(|&x| x == 0));
        assert!(
            mapping_rss_kib(addr) < 1024,
            "untouched pages are not resident"
        );
        b.as_mut_slice().fill(7);
        assert!(mapping_rss_kib(addr) >= 8 * 1024 - 64);
        b.release();
        assert_eq!(mapping_rss_kib(addr), 0, "released pages are not resident");
        assert!(b.as_mut_slice().iter().step_by(4096).all(|&x| x == 0));
        b.as_mut_slice()[5] = 1;
        assert_eq!(b.as_mut_slice()[5], 1);
    }
}
