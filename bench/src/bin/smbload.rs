//! `smbload`: a small parallel SMB2/3 metadata load generator, built on smb-testkit's
//! client-side codec ([`smb_testkit::TcpClient`]). `bench/e2e/compare.sh` uses it for its
//! "stat, parallel" row: several connections with several operations in flight each keep the
//! server busy, so the figure is the server's capacity, not one client's round-trip time.
//!
//! ```text
//! smbload --port P --user U --password PW [--host 127.0.0.1] [--share share]
//!         [--conns 4] [--depth 2] [--secs 5] [--op stat|openclose|mkfiles]
//!         [--dir DIR] [--files N] [--protection off|sign]
//! ```
//!
//! - Every connection (one thread each) negotiates SMB 3.1.1 (preauth integrity, its own
//!   random client GUID, as separate client machines would), logs on with NTLMv2 over SPNEGO
//!   and connects to `\\HOST\SHARE`. The timed part starts when all of them are up.
//! - `stat`: each operation is one compound of CREATE (FILE_READ_ATTRIBUTES, open existing),
//!   QUERY_INFO FileAllInformation and CLOSE (both related, FileId all ones): what a client
//!   does for a `stat`. The files are `DIR\f0` .. `DIR\f{N-1}`; connection `i` starts at file
//!   `i*N/conns` and cycles through all of them.
//! - `openclose`: CREATE + CLOSE compounds over the same files.
//! - `mkfiles`: creates `DIR` (and its parents) and the N empty files (CREATE open-if +
//!   CLOSE), split over the connections, then exits; `--secs` is ignored.
//! - Each connection keeps `--depth` operations in flight while its credits allow (every
//!   request asks for 64 credits; grants, interim responses included, are tracked).
//!   Interim STATUS_PENDING responses are skipped until the final one arrives.
//! - An operation counts when every element of its compound succeeded; any failure is
//!   printed (the first 10 per connection) and counted as an error. At `--secs` no new
//!   operation is sent; those in flight complete (and count), and the time is taken from the
//!   start to the last completion. Prints
//!   `ops=<n> secs=<t> ops_per_s=<r> errors=<e> conns=<c>` and exits 1 when errors > 0
//!   (2 on a usage error).
//! - `--protection sign` signs every request (the algorithm the server picks from AES-GMAC
//!   and AES-CMAC) and verifies signed responses; default off (signing enabled, not
//!   required; a server that requires it gets signed requests anyway).

use std::collections::VecDeque;
use std::io;
use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use smb_testkit::client::{class, disposition, info_type};
use smb_testkit::ntlm::NtlmClient;
use smb_testkit::tcp::{is_interim, random_bytes};
use smb_testkit::{Create, LoginOpts, Msg, NegotiateOpts, Req, TcpClient};
use smb_wire::create::{access, share_access};
use smb_wire::header::Command;
use smb_wire::ids::dialect;
use smb_wire::negotiate::security_mode;
use smb_wire::{FileId, NtStatus};

const USAGE: &str = "usage: smbload --port P --user U --password PW [--host 127.0.0.1] \
[--share share] [--conns 4] [--depth 2] [--secs 5] [--op stat|openclose|mkfiles] \
[--dir DIR] [--files N] [--protection off|sign]";

/// Errors printed per connection before they are only counted.
const MAX_PRINTED: u64 = 10;
/// How long a connection waits for the server before giving up.
const TIMEOUT: Duration = Duration::from_secs(30);
/// FILE_DIRECTORY_FILE ([MS-SMB2] 2.2.13 CreateOptions).
const FILE_DIRECTORY_FILE: u32 = 0x1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Stat,
    OpenClose,
    MkFiles,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Self::Stat => "stat",
            Self::OpenClose => "openclose",
            Self::MkFiles => "mkfiles",
        }
    }
}

#[derive(Debug, Clone)]
struct Args {
    host: String,
    port: u16,
    user: String,
    password: String,
    share: String,
    conns: usize,
    depth: usize,
    secs: f64,
    op: Op,
    dir: String,
    files: usize,
    sign: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        host: "127.0.0.1".into(),
        port: 0,
        user: String::new(),
        password: String::new(),
        share: "share".into(),
        conns: 4,
        depth: 2,
        secs: 5.0,
        op: Op::Stat,
        dir: String::new(),
        files: 1,
        sign: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        if k == "-h" || k == "--help" {
            return Err(String::new());
        }
        const KNOWN: [&str; 12] = [
            "--host",
            "--port",
            "--user",
            "--password",
            "--share",
            "--conns",
            "--depth",
            "--files",
            "--secs",
            "--dir",
            "--op",
            "--protection",
        ];
        if !KNOWN.contains(&k.as_str()) {
            return Err(format!("unknown option {k}"));
        }
        let v = it.next().ok_or_else(|| format!("{k} needs a value"))?;
        let num = |what: &str| -> Result<usize, String> {
            v.parse::<usize>()
                .map_err(|_| format!("{what}: '{v}' is not a number"))
        };
        match k.as_str() {
            "--host" => a.host = v.clone(),
            "--port" => {
                a.port = v
                    .parse()
                    .map_err(|_| format!("--port: '{v}' is not a port"))?
            }
            "--user" => a.user = v.clone(),
            "--password" => a.password = v.clone(),
            "--share" => a.share = v.clone(),
            "--conns" => a.conns = num("--conns")?,
            "--depth" => a.depth = num("--depth")?,
            "--files" => a.files = num("--files")?,
            "--secs" => {
                a.secs = v
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s > 0.0)
                    .ok_or_else(|| format!("--secs: '{v}' is not a positive number"))?
            }
            "--dir" => a.dir = v.trim_matches(['/', '\\']).replace('/', "\\"),
            "--op" => {
                a.op = match v.as_str() {
                    "stat" => Op::Stat,
                    "openclose" => Op::OpenClose,
                    "mkfiles" => Op::MkFiles,
                    _ => return Err(format!("--op: '{v}' is not stat, openclose or mkfiles")),
                }
            }
            "--protection" => {
                a.sign = match v.as_str() {
                    "off" => false,
                    "sign" => true,
                    _ => return Err(format!("--protection: '{v}' is not off or sign")),
                }
            }
            _ => unreachable!("checked against KNOWN"),
        }
    }
    if a.port == 0 {
        return Err("--port is required".into());
    }
    if a.user.is_empty() {
        return Err("--user is required".into());
    }
    if a.conns == 0 || a.depth == 0 || a.files == 0 {
        return Err("--conns, --depth and --files must be at least 1".into());
    }
    Ok(a)
}

fn file_name(dir: &str, i: usize) -> String {
    if dir.is_empty() {
        format!("f{i}")
    } else {
        format!("{dir}\\f{i}")
    }
}

/// The compound of one operation on `name`.
fn op_reqs(op: Op, name: &str) -> Vec<Req> {
    let open_existing = || {
        Create::new(name)
            .access(access::FILE_READ_ATTRIBUTES)
            .share(share_access::ALL)
            .disposition(disposition::OPEN)
            .req()
    };
    match op {
        Op::Stat => vec![
            open_existing(),
            Req::query_info(FileId::RELATED, info_type::FILE, class::ALL, 4096, 0, &[]).related(),
            Req::close(FileId::RELATED, 0).related(),
        ],
        Op::OpenClose => vec![open_existing(), Req::close(FileId::RELATED, 0).related()],
        Op::MkFiles => vec![
            Create::new(name)
                .access(access::FILE_READ_ATTRIBUTES | access::FILE_WRITE_DATA)
                .share(share_access::ALL)
                .disposition(disposition::OPEN_IF)
                .req(),
            Req::close(FileId::RELATED, 0).related(),
        ],
    }
}

fn connect(a: &Args) -> io::Result<TcpClient> {
    let neg = NegotiateOpts {
        dialects: vec![dialect::SMB3_11],
        security_mode: security_mode::SIGNING_ENABLED,
        guid: random_bytes(),
        ..NegotiateOpts::default()
    };
    let mut ntlm = NtlmClient::new(&a.user, &a.password);
    ntlm.workstation = "SMBLOAD".into();
    ntlm.client_challenge = random_bytes();
    ntlm.random_session_key = random_bytes();
    let login = LoginOpts {
        ntlm,
        ..LoginOpts::new(&a.user, &a.password)
    };
    let mut c = TcpClient::logged_on(&a.host, a.port, &neg, &login, &a.share, TIMEOUT)?;
    if a.sign {
        c.sign = true;
    }
    Ok(c)
}

/// Creates `dir` and its parents (CREATE directory open-if + CLOSE, one level at a time).
fn make_dirs(c: &mut TcpClient, dir: &str) -> io::Result<()> {
    let mut path = String::new();
    for part in dir.split('\\').filter(|p| !p.is_empty()) {
        if !path.is_empty() {
            path.push('\\');
        }
        path.push_str(part);
        let reqs = [
            Create::new(&path)
                .access(access::FILE_READ_ATTRIBUTES)
                .share(share_access::ALL)
                .disposition(disposition::OPEN_IF)
                .options(FILE_DIRECTORY_FILE)
                .req(),
            Req::close(FileId::RELATED, 0).related(),
        ];
        for m in c.exchange(&reqs)? {
            if m.status() != NtStatus::SUCCESS {
                return Err(io::Error::other(format!(
                    "mkdir {path}: {:?} {:?}",
                    m.command(),
                    m.status()
                )));
            }
        }
    }
    Ok(())
}

/// One operation in flight: its compound's MessageIds are `first..first + n`.
struct InFlight {
    first: u64,
    n: u64,
    left: u64,
    /// `None` for an ECHO sent only to ask for credits.
    file: Option<usize>,
    cmds: Vec<Command>,
    failure: Option<String>,
}

#[derive(Debug, Default)]
struct Tally {
    ops: u64,
    errors: u64,
    /// When the last operation of this connection completed.
    end: Option<Instant>,
}

/// Which file comes next on one connection.
struct Files {
    next: usize,
    step: usize,
    n: usize,
    /// `mkfiles`: stop after one pass; otherwise cycle.
    once: bool,
}

impl Iterator for Files {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        if self.once && self.next >= self.n {
            return None;
        }
        let i = self.next % self.n;
        self.next += self.step;
        if !self.once {
            self.next %= self.n;
        }
        Some(i)
    }
}

struct Worker<'a> {
    id: usize,
    args: &'a Args,
    c: TcpClient,
    reqs: Vec<Vec<Req>>,
    inflight: VecDeque<InFlight>,
    tally: Tally,
}

impl Worker<'_> {
    fn fail(&mut self, what: &str) {
        self.tally.errors += 1;
        if self.tally.errors <= MAX_PRINTED {
            eprintln!("smbload: conn {}: {what}", self.id);
        } else if self.tally.errors == MAX_PRINTED + 1 {
            eprintln!(
                "smbload: conn {}: more errors, only counted from now on",
                self.id
            );
        }
    }

    fn send_op(&mut self, file: usize) -> io::Result<()> {
        let reqs = &self.reqs[file];
        let n = self.c.charge_of(reqs) as u64;
        let cmds = reqs.iter().map(|r| r.command).collect();
        let first = self.c.send(reqs)?;
        self.inflight.push_back(InFlight {
            first,
            n,
            left: reqs.len() as u64,
            file: Some(file),
            cmds,
            failure: None,
        });
        Ok(())
    }

    fn send_echo(&mut self) -> io::Result<()> {
        let first = self.c.send(&[Req::empty(Command::ECHO).credits(64)])?;
        self.inflight.push_back(InFlight {
            first,
            n: 1,
            left: 1,
            file: None,
            cmds: vec![Command::ECHO],
            failure: None,
        });
        Ok(())
    }

    fn on_response(&mut self, m: &Msg) -> io::Result<()> {
        let mid = m.message_id();
        if mid == u64::MAX || is_interim(m) {
            return Ok(()); // an oplock break notification, or an interim response
        }
        let Some(k) = self
            .inflight
            .iter()
            .position(|f| mid >= f.first && mid < f.first + f.n)
        else {
            return Err(io::Error::other(format!(
                "{:?} response with MessageId {mid}, which is not in flight",
                m.command()
            )));
        };
        let f = &mut self.inflight[k];
        let idx = (mid - f.first) as usize;
        let expected = f.cmds.get(idx).copied().unwrap_or(Command(0xffff));
        if f.failure.is_none() {
            if m.command() != expected {
                f.failure = Some(format!(
                    "{:?} response to a {expected:?} request",
                    m.command()
                ));
            } else if m.status() != NtStatus::SUCCESS {
                f.failure = Some(format!("{:?} {:?}", m.command(), m.status()));
            }
        }
        f.left -= 1;
        if f.left == 0 {
            let done = self
                .inflight
                .remove(k)
                .ok_or_else(|| io::Error::other("lost"))?;
            match (done.file, done.failure) {
                (None, None) => {}
                (None, Some(e)) => self.fail(&format!("ECHO: {e}")),
                (Some(_), None) => self.tally.ops += 1,
                (Some(i), Some(e)) => {
                    let name = file_name(&self.args.dir, i);
                    self.fail(&format!("{} {name}: {e}", self.args.op.name()));
                }
            }
        }
        Ok(())
    }

    /// Runs operations until `deadline` (or the end of `files`), then drains.
    fn run(&mut self, mut files: Files, deadline: Option<Instant>) -> io::Result<()> {
        let cost = self.c.charge_of(&self.reqs[0]);
        let mut stopping = false;
        loop {
            if let Some(d) = deadline {
                stopping |= Instant::now() >= d;
            }
            while !stopping && self.inflight.len() < self.args.depth && self.c.credits >= cost {
                match files.next() {
                    Some(i) => self.send_op(i)?,
                    None => stopping = true,
                }
            }
            if self.inflight.is_empty() {
                if stopping {
                    return Ok(());
                }
                // Not enough credits for one operation and nothing in flight to bring more.
                if self.c.credits < 1 {
                    return Err(io::Error::other(format!(
                        "out of credits ({}) with nothing in flight",
                        self.c.credits
                    )));
                }
                self.send_echo()?;
            }
            for m in self.c.recv()? {
                self.on_response(&m)?;
            }
            self.tally.end = Some(Instant::now());
        }
    }
}

/// One connection: set up, wait for the others, run, return its tally.
fn worker(
    id: usize,
    args: Arc<Args>,
    barrier: Arc<Barrier>,
    start: Arc<std::sync::OnceLock<Instant>>,
) -> Tally {
    let setup = connect(&args);
    barrier.wait();
    let mut c = match setup {
        Ok(c) => c,
        Err(e) => {
            eprintln!("smbload: conn {id}: setup failed: {e}");
            return Tally {
                errors: 1,
                ..Tally::default()
            };
        }
    };
    c.credit_request = 64;
    let reqs = (0..args.files)
        .map(|i| op_reqs(args.op, &file_name(&args.dir, i)))
        .collect();
    let mut w = Worker {
        id,
        args: &args,
        c,
        reqs,
        inflight: VecDeque::new(),
        tally: Tally::default(),
    };
    let t0 = *start.get_or_init(Instant::now);
    let (files, deadline) = if args.op == Op::MkFiles {
        let f = Files {
            next: id,
            step: args.conns,
            n: args.files,
            once: true,
        };
        (f, None)
    } else {
        let f = Files {
            next: id * args.files / args.conns,
            step: 1,
            n: args.files,
            once: false,
        };
        (f, Some(t0 + Duration::from_secs_f64(args.secs)))
    };
    if let Err(e) = w.run(files, deadline) {
        let lost = w.inflight.iter().filter(|f| f.file.is_some()).count() as u64;
        w.tally.errors += lost.max(1);
        eprintln!("smbload: conn {id}: connection failed: {e} ({lost} operations in flight lost)");
        w.tally.end = Some(Instant::now());
    }
    w.tally
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => Arc::new(a),
        Err(e) => {
            if !e.is_empty() {
                eprintln!("smbload: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.op == Op::MkFiles && !args.dir.is_empty() {
        if let Err(e) = connect(&args).and_then(|mut c| make_dirs(&mut c, &args.dir)) {
            eprintln!("smbload: creating {}: {e}", args.dir);
            println!("ops=0 secs=0 ops_per_s=0 errors=1 conns={}", args.conns);
            return ExitCode::from(1);
        }
    }
    let barrier = Arc::new(Barrier::new(args.conns));
    let start = Arc::new(std::sync::OnceLock::new());
    let handles: Vec<_> = (0..args.conns)
        .map(|id| {
            let (a, b, s) = (Arc::clone(&args), Arc::clone(&barrier), Arc::clone(&start));
            std::thread::spawn(move || worker(id, a, b, s))
        })
        .collect();
    let mut total = Tally::default();
    for h in handles {
        match h.join() {
            Ok(t) => {
                total.ops += t.ops;
                total.errors += t.errors;
                total.end = total.end.max(t.end);
            }
            Err(_) => {
                eprintln!("smbload: a connection thread panicked");
                total.errors += 1;
            }
        }
    }
    let secs = match (start.get(), total.end) {
        (Some(s), Some(e)) => e.duration_since(*s).as_secs_f64(),
        _ => 0.0,
    };
    let rate = if secs > 0.0 {
        total.ops as f64 / secs
    } else {
        0.0
    };
    println!(
        "ops={} secs={secs:.3} ops_per_s={rate:.0} errors={} conns={}",
        total.ops, total.errors, args.conns
    );
    if total.errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
