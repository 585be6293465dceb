//! The event loop: one thread, one `smol::LocalExecutor`, one task per connection. Each task
//! reads whole Direct TCP frames into its receive buffer, hands them to the engine, and writes
//! the response. The engine lives in an `Rc<RefCell<..>>`; no borrow is held across `.await`.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use smb_proto::{ConnId, Server};
use smb_wire::transport;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::{TcpListener, TcpStream};
use smol::LocalExecutor;

use crate::host::{now_filetime, HostPolicy};
use crate::pagebuf::PageBuf;
use crate::vfs::PosixVfs;

/// The engine as the driver shares it between tasks.
pub type Engine = Rc<RefCell<Server<'static, PosixVfs, HostPolicy>>>;

/// Per-connection wake-ups for the async-response writers.
type Wakers = Rc<RefCell<std::collections::HashMap<ConnId, smol::channel::Sender<()>>>>;

/// Limits the driver needs.
#[derive(Debug, Clone, Copy)]
pub struct DriverLimits {
    /// Largest frame accepted (max I/O size plus headers).
    pub max_frame: usize,
    pub max_connections: usize,
    /// Large buffers shared by all connections (the board profile's `frame_buffers`): half
    /// receive, half transmit, so a request in flight holds two.
    pub frame_buffers: usize,
}

/// Frame buffers shared by every connection. A connection holds one only while it reads,
/// handles and answers one request, so an idle connection costs no buffer memory and the
/// steady total is the board profile's count, not the number of clients.
struct Pool {
    /// Free buffers, used as a stack: the most recently returned (cache- and RAM-hot) buffer
    /// is leased first, so only as many buffers as were ever in use *at once* get touched and
    /// become resident, not every buffer of the pool in turn (a FIFO would cycle through all
    /// of them and make the whole pool resident after a few large transfers).
    free: RefCell<Vec<PageBuf>>,
    count: usize,
    size: usize,
    /// Leases since the last [`Pool::trim`].
    used: std::cell::Cell<u64>,
    /// No free buffer holds resident pages (trimmed, and unused since).
    clean: std::cell::Cell<bool>,
}

impl Pool {
    fn new(count: usize, size: usize) -> std::io::Result<Self> {
        let count = count.max(1);
        // Each buffer is its own mapping: no page is resident until used (`pagebuf.rs`).
        let free = (0..count)
            .map(|_| PageBuf::new(size))
            .collect::<std::io::Result<_>>()?;
        Ok(Self {
            free: RefCell::new(free),
            count,
            size,
            used: std::cell::Cell::new(0),
            clean: std::cell::Cell::new(true),
        })
    }

    /// A free buffer, or a fresh one when all are in use: waiting could let a few clients
    /// that never read their responses stall everyone. A fresh buffer is dropped, not kept,
    /// when returned to a full pool, so memory beyond the pool lasts only while busy.
    fn lease(&self) -> std::io::Result<Lease<'_>> {
        self.used.set(self.used.get() + 1);
        let buf = match self.free.borrow_mut().pop() {
            Some(b) => b,
            None => PageBuf::new(self.size)?,
        };
        Ok(Lease {
            pool: self,
            buf: Some(buf),
        })
    }

    /// Hands the pages of every free buffer back to the kernel if no buffer was leased since
    /// the last call; returns whether it did. The driver calls it every few seconds, so after
    /// a transfer the memory it used returns to the page cache once the server goes quiet.
    fn trim(&self) -> bool {
        if self.used.replace(0) > 0 {
            self.clean.set(false);
            return false;
        }
        if self.clean.replace(true) {
            return false;
        }
        for b in self.free.borrow_mut().iter_mut() {
            b.release();
        }
        true
    }
}

/// A pooled buffer, returned to the pool when dropped (also on error paths).
struct Lease<'a> {
    pool: &'a Pool,
    buf: Option<PageBuf>,
}

impl Lease<'_> {
    fn get(&mut self) -> &mut [u8] {
        match self.buf.as_mut() {
            Some(b) => b.as_mut_slice(),
            None => &mut [],
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(b) = self.buf.take() {
            let mut free = self.pool.free.borrow_mut();
            if free.len() < self.pool.count {
                free.push(b);
            }
        }
    }
}

/// Bytes an idle connection reads before it takes a receive buffer: most requests (and
/// compounds of a few) fit, so they arrive with one `recv`.
const FIRST_READ: usize = 1024;

/// The receive and transmit pools.
struct Pools {
    rx: Pool,
    tx: Pool,
}

/// Serves every listener until the process is stopped.
/// `io_done` delivers the tickets (and results) of the jobs the I/O threads finished
/// (`iopool.rs`).
pub fn run(
    engine: Engine,
    listeners: Vec<TcpListener>,
    limits: DriverLimits,
    io_done: smol::channel::Receiver<crate::iopool::Done>,
) -> std::io::Result<()> {
    let ex = Rc::new(LocalExecutor::new());
    let active = Rc::new(RefCell::new(0usize));
    let wakers: Wakers = Rc::default();
    let pools = Rc::new(Pools {
        // A receive buffer holds one whole frame with its 4-byte header, plus room for the
        // start of the next.
        rx: Pool::new(limits.frame_buffers.div_ceil(2), limits.max_frame + 4096)?,
        // Twice a largest response: small responses to pipelined requests are batched into
        // one write (`serve_conn`); only the pages used become resident.
        tx: Pool::new(
            limits.frame_buffers.div_ceil(2),
            2 * (limits.max_frame + 4096),
        )?,
    });
    smol::block_on(ex.run(async {
        let mut accepts = Vec::new();
        for l in listeners {
            let ex2 = ex.clone();
            let engine = engine.clone();
            let active = active.clone();
            let wakers = wakers.clone();
            let pools = pools.clone();
            accepts.push(ex.spawn(async move {
                loop {
                    let (stream, peer) = match l.accept().await {
                        Ok(s) => s,
                        Err(e) => {
                            crate::warn!("accept failed: {e}");
                            smol::Timer::after(std::time::Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    if *active.borrow() >= limits.max_connections {
                        crate::warn!("refusing {peer}: max connections reached");
                        continue;
                    }
                    let accepted = engine.borrow_mut().accept();
                    let Ok(id) = accepted else {
                        crate::warn!("refusing {peer}: connection table full");
                        continue;
                    };
                    *active.borrow_mut() += 1;
                    let engine = engine.clone();
                    let active = active.clone();
                    let wakers = wakers.clone();
                    let pools = pools.clone();
                    let ex3 = ex2.clone();
                    ex2.spawn(async move {
                        crate::info!("connection from {peer}");
                        let r = serve_conn(&ex3, &engine, &wakers, pools, id, stream, peer, limits)
                            .await;
                        if let Err(e) = r {
                            crate::debug!("connection {peer} ended: {e}");
                        }
                        engine.borrow_mut().close(id);
                        *active.borrow_mut() -= 1;
                        crate::info!("connection from {peer} closed");
                    })
                    .detach();
                }
            }));
        }
        // Deadlines inside the engine (oplock break acknowledgments) are checked once a
        // second; whatever they release is sent by the connections' writers.
        // Every TRIM_EVERY ticks, frame buffers unused since the last look give their pages
        // back (a quiet server returns a transfer's memory within 5-10 s).
        const TRIM_EVERY: u32 = 5;
        let ticker = {
            let engine = engine.clone();
            let wakers = wakers.clone();
            let pools = pools.clone();
            ex.spawn(async move {
                let mut tick = 0u32;
                loop {
                    smol::Timer::after(std::time::Duration::from_secs(1)).await;
                    tick += 1;
                    if tick.is_multiple_of(TRIM_EVERY) {
                        let (r, t) = (pools.rx.trim(), pools.tx.trim());
                        if r || t {
                            crate::debug!("idle: frame buffers trimmed");
                        }
                    }
                    let now = now_filetime();
                    let due = engine.borrow().poll_timeout().is_some_and(|d| d <= now);
                    if due {
                        engine.borrow_mut().handle_timeout(now);
                        wake_ready(&engine, &wakers);
                    }
                }
            })
        };
        // A read or sync the I/O threads finished: its request's final response is ready.
        let completions = {
            let engine = engine.clone();
            let wakers = wakers.clone();
            ex.spawn(async move {
                while let Ok((ticket, status)) = io_done.recv().await {
                    if engine.borrow_mut().io_ready(ticket, status) {
                        wake_ready(&engine, &wakers);
                    }
                }
            })
        };
        for a in accepts {
            a.await;
        }
        drop(ticker);
        drop(completions);
    }));
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn serve_conn(
    ex: &Rc<LocalExecutor<'static>>,
    engine: &Engine,
    wakers: &Wakers,
    pools: Rc<Pools>,
    id: ConnId,
    mut stream: TcpStream,
    peer: SocketAddr,
    limits: DriverLimits,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    // Responses to async requests (blocking locks, change notify) are written by a second
    // task, woken when the engine has one ready; the mutex keeps frames whole on the wire.
    let wlock = Rc::new(smol::lock::Mutex::new(()));
    let (wake_tx, wake_rx) = smol::channel::bounded::<()>(1);
    wakers.borrow_mut().insert(id, wake_tx);
    let writer = {
        let engine = engine.clone();
        let wlock = wlock.clone();
        let mut stream = stream.clone();
        let pools = pools.clone();
        ex.spawn(async move {
            while wake_rx.recv().await.is_ok() {
                // Async responses: locks, notifications, breaks, and READs whose data the I/O
                // threads fetched (up to max_io): a pooled transmit buffer per wake-up.
                let Ok(mut txl) = pools.tx.lease() else {
                    return;
                };
                let atx = txl.get();
                loop {
                    let n = engine.borrow_mut().poll_transmit(now_filetime(), id, atx);
                    match n {
                        None => break,
                        Some(0) => continue,
                        Some(n) => {
                            let _g = wlock.lock().await;
                            if stream.write_all(&atx[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        })
    };
    let result = async {
        // Received bytes not yet handled are `rx[..filled]` of a leased receive buffer, held
        // only while a frame is incomplete or unhandled: between frames the connection owns no
        // buffer and waits with `first` (on its task's stack). One read takes whatever the
        // socket has, so a burst of pipelined requests costs one `recv`, not two per frame.
        let mut first = [0u8; FIRST_READ];
        let mut rxl: Option<Lease<'_>> = None;
        let mut filled = 0usize;
        loop {
            if filled == 0 {
                // Idle between frames: no buffer held while waiting.
                drop(rxl.take());
                let n = stream.read(&mut first).await?;
                if n == 0 {
                    return Ok(());
                }
                let mut l = pools.rx.lease()?;
                l.get()[..n].copy_from_slice(&first[..n]);
                rxl = Some(l);
                filled = n;
            }
            let Some(l) = rxl.as_mut() else {
                continue;
            };
            let rx = l.get();
            let mut start = 0usize;
            // Responses to the frames handled from this read go out together: each is written
            // into the transmit buffer after the previous one while the rest of the buffer can
            // still hold a largest response, then all with one write. The connection's writer
            // lock is held meanwhile, so an async final response can never overtake its
            // interim response.
            let mut txl: Option<Lease<'_>> = None;
            let mut used = 0usize;
            // What `handle_frame` needs for one response: the largest READ plus headers.
            let tx_room = limits.max_frame + 4096;
            let mut guard = None;
            while filled - start >= transport::HEADER_LEN {
                let mut head = [0u8; transport::HEADER_LEN];
                head.copy_from_slice(&rx[start..start + transport::HEADER_LEN]);
                let transport::Status::Complete(len) = transport::frame_len(&head) else {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "not a Direct TCP frame",
                    ));
                };
                if len > limits.max_frame || len < 4 {
                    crate::warn!("{peer}: frame of {len} bytes refused");
                    return Ok(());
                }
                let end = start + transport::HEADER_LEN + len;
                if end > filled {
                    break;
                }
                if guard.is_none() {
                    guard = Some(wlock.lock().await);
                }
                let tl = match txl.as_mut() {
                    Some(t) => t,
                    None => txl.insert(pools.tx.lease()?),
                };
                let tx = tl.get();
                if tx.len() - used < tx_room {
                    stream.write_all(&tx[..used]).await?;
                    used = 0;
                }
                let result = engine.borrow_mut().handle_frame(
                    now_filetime(),
                    id,
                    &mut rx[start + transport::HEADER_LEN..end],
                    &mut tx[used..],
                );
                start = end;
                // A zero-copy READ: its data follows the frame, straight from the file.
                let tail = engine.borrow_mut().take_tail();
                match result {
                    Ok(n) => used += n,
                    Err(d) => {
                        crate::warn!("{peer}: disconnecting: {}", d.0);
                        return Ok(());
                    }
                }
                if let Some(t) = tail {
                    stream.write_all(&tx[..used]).await?;
                    used = 0;
                    send_tail(&mut stream, engine, t).await?;
                }
            }
            if let Some(tl) = txl.as_mut() {
                if used > 0 {
                    stream.write_all(&tl.get()[..used]).await?;
                }
            }
            drop(txl);
            if guard.take().is_some() {
                // Wake every connection with an async response ready (this one's included: a
                // CANCEL completes its own pending request). Done after our writes, so an
                // interim response always precedes its final one.
                wake_ready(engine, wakers);
            }
            // Keep the unhandled rest (the start of the next frame) at the front.
            if start > 0 {
                rx.copy_within(start..filled, 0);
                filled -= start;
            }
            if filled == 0 {
                continue;
            }
            let n = stream.read(&mut rx[filled..]).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            filled += n;
        }
    }
    .await;
    wakers.borrow_mut().remove(&id);
    drop(writer);
    result
}

/// Sends a zero-copy READ's data from the file with `sendfile` (page cache to socket, no copy
/// through user memory). The frame header already announced `t.len` bytes: if the file has
/// fewer by now (truncated meanwhile), zeros make up the rest so the stream stays framed.
async fn send_tail(
    stream: &mut TcpStream,
    engine: &Engine,
    t: smb_proto::FileTail,
) -> std::io::Result<()> {
    static ZEROS: [u8; 4096] = [0; 4096];
    let file = engine
        .borrow()
        .vfs()
        .file_fd(t.node)
        .and_then(|fd| rustix::io::fcntl_dupfd_cloexec(fd, 0).ok());
    let mut left = t.len as usize;
    if let Some(file) = file {
        let sock: std::sync::Arc<smol::Async<std::net::TcpStream>> = stream.clone().into();
        let mut off = t.offset;
        while left > 0 {
            let sent = sock
                .write_with(|s| {
                    rustix::fs::sendfile(s, &file, Some(&mut off), left).map_err(Into::into)
                })
                .await?;
            if sent == 0 {
                break;
            }
            left -= sent;
        }
    }
    while left > 0 {
        let k = left.min(ZEROS.len());
        stream.write_all(&ZEROS[..k]).await?;
        left -= k;
    }
    Ok(())
}

/// Nudges the writer task of every connection that has an async response to send.
fn wake_ready(engine: &Engine, wakers: &Wakers) {
    let e = engine.borrow();
    let w = wakers.borrow();
    e.for_each_transmit(|c| {
        if let Some(s) = w.get(&c) {
            let _ = s.try_send(());
        }
    });
}
