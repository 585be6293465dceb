//! File reads that may block, done off the event loop by a small fixed pool of threads (at
//! most the board profile's `io_threads`).
//!
//! The event loop never waits for a disk: [`PosixVfs::try_read`](crate::vfs::PosixVfs) first
//! reads with `RWF_NOWAIT`, which succeeds only from the page cache; when the data is not
//! there (a cold file on a USB disk or SD card), it hands the range to this pool and the engine
//! answers the READ with an interim STATUS_PENDING. A worker reads the range with an ordinary
//! blocking `pread` (which brings it into the page cache), then sends the request's ticket to
//! the event loop, which calls `Server::io_ready` and sends the final response, now read from
//! the cache. Other clients' requests, and cached reads of the same client, go on meanwhile.
//!
//! FLUSH works the same way: `try_flush` queues an `fdatasync` and the FLUSH waits for its
//! result.
//!
//! Workers start when work first finds none idle, up to the limit, and then stay: a server
//! that never meets a cold file or a FLUSH runs no extra thread (each costs a stack and, once
//! it allocates, a malloc arena of its own: ~140 KiB resident apiece with glibc).
//!
//! A worker holds a duplicate of the file descriptor, so a CLOSE while the fetch is running
//! is harmless (the engine then answers FILE_CLOSED and ignores the ticket).
//!
//! Fault injection for tests: `SMBED_TEST_SLOW_READS=SUBSTRING:MS` makes every read of a file
//! whose share-relative path contains SUBSTRING go through the pool and wait MS milliseconds
//! first, like a disk that takes that long (tests/interop/nostall.sh uses it).

use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smb_wire::NtStatus;

/// Bytes a worker reads per `pread` (its scratch buffer; the data itself is discarded, the page
/// cache keeps it).
const CHUNK: usize = 256 * 1024;

#[derive(Debug)]
enum Work {
    /// Bring `len` bytes at `offset` into the page cache.
    Fetch { offset: u64, len: usize },
    /// `fdatasync` (`fsync` for a directory).
    Sync { dir: bool },
}

#[derive(Debug)]
struct Job {
    fd: OwnedFd,
    work: Work,
    ticket: u64,
    delay: Duration,
}

/// A finished job: its ticket and its result (`SUCCESS` or the error to answer).
pub type Done = (u64, NtStatus);

/// The sending side, kept by the VFS.
#[derive(Clone, Debug)]
pub struct IoPool {
    jobs: mpsc::Sender<Job>,
    workers: Arc<Workers>,
    slow: Option<(Arc<str>, Duration)>,
}

/// What starting a worker needs, and how many there are.
#[derive(Debug)]
struct Workers {
    jobs: Arc<Mutex<mpsc::Receiver<Job>>>,
    done: smol::channel::Sender<Done>,
    max: usize,
    started: AtomicUsize,
    /// Workers waiting for a job, less the jobs queued that none has taken yet (it goes
    /// negative, as a wrapping count, when jobs wait for a worker).
    idle: Arc<AtomicUsize>,
}

impl IoPool {
    /// A pool of up to `threads` workers (at least one), started as work arrives. Finished
    /// tickets arrive on the returned channel, for the event loop.
    pub fn start(threads: usize) -> std::io::Result<(Self, smol::channel::Receiver<Done>)> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let (done, done_rx) = smol::channel::unbounded();
        let workers = Arc::new(Workers {
            jobs: Arc::new(Mutex::new(rx)),
            done,
            max: threads.max(1),
            started: AtomicUsize::new(0),
            idle: Arc::new(AtomicUsize::new(0)),
        });
        Ok((
            Self {
                jobs,
                workers,
                slow: None,
            },
            done_rx,
        ))
    }

    /// Threads started so far.
    #[cfg(test)]
    pub fn threads(&self) -> usize {
        self.workers.started.load(Ordering::Relaxed)
    }

    /// Counts a job about to be queued and starts one more worker when no idle one is left
    /// for it and the limit allows. Only the event loop queues work, so `started` has a
    /// single writer.
    fn grow(&self) -> std::io::Result<()> {
        let w = &self.workers;
        let n = w.started.load(Ordering::Relaxed);
        let idle_before = w.idle.fetch_sub(1, Ordering::AcqRel) as isize;
        if idle_before > 0 || n >= w.max {
            return Ok(());
        }
        let (rx, done, idle) = (w.jobs.clone(), w.done.clone(), w.idle.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("smbed-io-{n}"))
            .spawn(move || worker(&rx, &done, &idle));
        match spawned {
            Ok(_) => {
                w.started.store(n + 1, Ordering::Relaxed);
                Ok(())
            }
            // Existing workers will get to the job; with none, the caller must not wait.
            Err(e) if n == 0 => {
                w.idle.fetch_add(1, Ordering::AcqRel);
                Err(e)
            }
            Err(_) => Ok(()),
        }
    }

    /// Applies `SMBED_TEST_SLOW_READS=SUBSTRING:MS` (see the module docs); returns a
    /// description for the log when it is set, an error when it is malformed.
    pub fn slow_reads_from_env(&mut self) -> Result<Option<String>, String> {
        let Ok(v) = std::env::var("SMBED_TEST_SLOW_READS") else {
            return Ok(None);
        };
        let (name, ms) = v
            .rsplit_once(':')
            .and_then(|(n, ms)| Some((n, ms.parse::<u64>().ok()?)))
            .filter(|(n, _)| !n.is_empty())
            .ok_or_else(|| format!("SMBED_TEST_SLOW_READS={v}: expected SUBSTRING:MILLISECONDS"))?;
        self.slow = Some((Arc::from(name), Duration::from_millis(ms)));
        Ok(Some(format!(
            "test fault injection: reads of paths containing {name:?} take {ms} ms more"
        )))
    }

    /// The injected delay for a file at `path` (share-relative), if any.
    pub fn slow_delay(&self, path: &str) -> Option<Duration> {
        match &self.slow {
            Some((name, d)) if path.contains(&**name) => Some(*d),
            _ => None,
        }
    }

    /// Queues a fetch of `len` bytes at `offset` of `fd`; `ticket` comes back when it is done.
    pub fn fetch(
        &self,
        fd: BorrowedFd<'_>,
        offset: u64,
        len: usize,
        ticket: u64,
        delay: Duration,
    ) -> std::io::Result<()> {
        self.queue(fd, Work::Fetch { offset, len }, ticket, delay)
    }

    /// Queues a data sync of `fd` (a full `fsync` for a directory).
    pub fn sync(&self, fd: BorrowedFd<'_>, dir: bool, ticket: u64) -> std::io::Result<()> {
        self.queue(fd, Work::Sync { dir }, ticket, Duration::ZERO)
    }

    fn queue(
        &self,
        fd: BorrowedFd<'_>,
        work: Work,
        ticket: u64,
        delay: Duration,
    ) -> std::io::Result<()> {
        let fd = rustix::io::fcntl_dupfd_cloexec(fd, 0)?;
        self.grow()?;
        self.jobs
            .send(Job {
                fd,
                work,
                ticket,
                delay,
            })
            .map_err(|_| std::io::Error::other("I/O threads have stopped"))
    }
}

fn worker(
    jobs: &Mutex<mpsc::Receiver<Job>>,
    done: &smol::channel::Sender<Done>,
    idle: &AtomicUsize,
) {
    // Allocated at the first fetch: a worker that only syncs never needs it.
    let mut scratch: Vec<u8> = Vec::new();
    loop {
        // One more worker free for work; taking a job was already counted when it was queued.
        idle.fetch_add(1, Ordering::AcqRel);
        let job = jobs.lock().ok().and_then(|rx| rx.recv().ok());
        let Some(job) = job else {
            return;
        };
        if !job.delay.is_zero() {
            std::thread::sleep(job.delay);
        }
        let status = match job.work {
            Work::Fetch { offset, len } => {
                if scratch.is_empty() {
                    scratch.resize(CHUNK, 0);
                }
                let mut at = offset;
                let end = offset.saturating_add(len as u64);
                while at < end {
                    let n = ((end - at) as usize).min(CHUNK);
                    match rustix::io::pread(&job.fd, &mut scratch[..n], at) {
                        Ok(0) => break,
                        Ok(k) => at += k as u64,
                        Err(rustix::io::Errno::INTR) => {}
                        // The final read meets the error again and reports it.
                        Err(_) => break,
                    }
                }
                NtStatus::SUCCESS
            }
            Work::Sync { dir } => {
                let r = if dir {
                    rustix::fs::fsync(&job.fd)
                } else {
                    rustix::fs::fdatasync(&job.fd)
                };
                r.map_or_else(crate::vfs::io_err, |()| NtStatus::SUCCESS)
            }
        };
        drop(job.fd);
        if done.send_blocking((job.ticket, status)).is_err() {
            return;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn fetches_complete_with_their_tickets_and_the_delay_applies() {
        let path = std::env::temp_dir().join(format!("smbed-iopool-{}", std::process::id()));
        std::fs::write(&path, vec![7u8; 600_000]).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        let (pool, done) = IoPool::start(2).unwrap();
        assert_eq!(pool.threads(), 0, "no thread before there is work");
        pool.fetch(f.as_fd(), 0, 600_000, 1, Duration::ZERO)
            .unwrap();
        pool.fetch(f.as_fd(), 1 << 40, 10, 2, Duration::ZERO)
            .unwrap();
        let t0 = std::time::Instant::now();
        pool.fetch(f.as_fd(), 0, 10, 3, Duration::from_millis(200))
            .unwrap();
        pool.sync(f.as_fd(), false, 4).unwrap();
        let mut got: Vec<Done> = (0..4).map(|_| done.recv_blocking().unwrap()).collect();
        assert!(t0.elapsed() >= Duration::from_millis(200));
        assert!(
            (1..=2).contains(&pool.threads()),
            "workers start with the work, up to the limit: {}",
            pool.threads()
        );
        got.sort_unstable_by_key(|d| d.0);
        assert_eq!(
            got,
            [1, 2, 3, 4].map(|t| (t, NtStatus::SUCCESS)),
            "fetches and syncs succeed"
        );
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn slow_reads_knob_is_parsed_strictly() {
        let (mut pool, _done) = IoPool::start(1).unwrap();
        assert_eq!(pool.slow_delay("a/slow.bin"), None);
        pool.slow = Some((Arc::from("slow"), Duration::from_millis(5)));
        assert_eq!(
            pool.slow_delay("a/slow.bin"),
            Some(Duration::from_millis(5))
        );
        assert_eq!(pool.slow_delay("a/fast.bin"), None);
    }
}
