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
//! This is the platform crate's only `unsafe`: creating, viewing, advising and unmapping one
//! private anonymous mapping that this type alone owns.
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

#[cfg(test)]
mod tests {
    use super::PageBuf;

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
