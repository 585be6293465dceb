//! `smbed`: an SMB3 file server for small ARM NAS boards.
//!
//! Commands: `serve`, `testparm`, `user add|del|passwd|list`,
//! `group add|del|addmem|delmem|list`, `tdb ...`. See README.md.

mod accounts;
mod board;
mod driver;
mod host;
mod iopool;
mod log;
mod pagebuf;
mod state;
mod tdb_cli;
mod vfs;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use accounts::{AccountStore, TdbAccounts};
use smbed_config::{Interface, ValidConfig};

const USAGE: &str = "usage:
  smbed serve [--config FILE]          run the server in the foreground (logs to stderr)
  smbed testparm [--config FILE]       check the configuration and print the effective one
  smbed user add NAME [--config FILE]  add a user; the password is read from stdin
  smbed user passwd NAME [--config F]  set a user's password (read from stdin)
  smbed user del NAME [--config FILE]  delete a user
    smbed user list [--config FILE]      list users
  smbed group add|del NAME             add or delete a group (for `valid users = @NAME`)
  smbed group addmem|delmem GROUP USER add a user to a group, or remove it
  smbed group list                     list groups and their members
  smbed tdb check|dump|stats|compact DIR, smbed tdb backup DIR DEST   tdb store tools
  smbed --version

Without --config, smbed uses its built-in default: 127.0.0.1:4455, share 'share' over
./smbed-data/share, state in ./smbed-data/state.";

/// Where the built-in default keeps its files.
const DEFAULT_BASE: &str = "smbed-data";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("smbed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Splits `--config FILE` out of the arguments.
fn take_config(args: &[String]) -> Result<(Option<PathBuf>, Vec<&str>), String> {
    let mut cfg = None;
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--config" || a == "-s" {
            cfg = Some(PathBuf::from(
                it.next().ok_or("--config needs a file name")?,
            ));
        } else if let Some(v) = a.strip_prefix("--config=") {
            cfg = Some(PathBuf::from(v));
        } else {
            rest.push(a.as_str());
        }
    }
    Ok((cfg, rest))
}

fn run(args: &[String]) -> Result<(), String> {
    let (cfg_path, rest) = take_config(args)?;
    match rest.as_slice() {
        ["serve"] => serve(cfg_path.as_deref()),
        ["testparm"] => {
            let (cfg, _) = load_config(cfg_path.as_deref())?;
            let sel = board::select(&cfg)?;
            print!("{cfg}");
            print!("\n{}", board::describe(&sel, cfg.global.max_connections));
            Ok(())
        }
        ["user", "add", name] => user_set(cfg_path.as_deref(), name, true),
        ["user", "passwd", name] => user_set(cfg_path.as_deref(), name, false),
        ["user", "del", name] => {
            let (cfg, _) = load_config(cfg_path.as_deref())?;
            let mut store = open_accounts(&cfg)?;
            store.delete(name).map_err(|e| e.to_string())?;
            println!("deleted user {name}");
            Ok(())
        }
        ["user", "list"] => {
            let (cfg, _) = load_config(cfg_path.as_deref())?;
            let store = open_accounts(&cfg)?;
            for a in store.list() {
                let flags = if a.disabled { " (disabled)" } else { "" };
                let pw = if a.nt_hash.is_some() {
                    ""
                } else {
                    " (no password)"
                };
                println!("{}:{}{flags}{pw}", a.name, a.uid);
            }
            Ok(())
        }
        ["group", rest @ ..] => group_cmd(cfg_path.as_deref(), rest),
        ["tdb", rest @ ..] => tdb_cli::run(rest),
        ["--version"] | ["version"] => {
            println!("smbed {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        ["help"] | ["--help"] | ["-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unknown command\n{USAGE}")),
    }
}

/// Loads `path`, or the built-in default when `None`; prints warnings.
fn load_config(path: Option<&Path>) -> Result<(ValidConfig, bool), String> {
    match path {
        Some(p) => {
            let (cfg, warnings) = smbed_config::load(p).map_err(|e| e.to_string())?;
            for w in warnings {
                eprintln!("smbed: warning: {w}");
            }
            Ok((cfg, false))
        }
        None => {
            let base = std::env::current_dir()
                .map_err(|e| e.to_string())?
                .join(DEFAULT_BASE);
            Ok((smbed_config::default_config(&base), true))
        }
    }
}

/// The account database, `<private dir>/accounts.tdb` (imports the smbpasswd file on first start).
fn open_accounts(cfg: &ValidConfig) -> Result<TdbAccounts, String> {
    let sel = board::select(cfg)?;
    accounts::set_segment_size(sel.board.limits.tdb_segment_size);
    accounts::open_configured(cfg)
}

/// Reads one password line from stdin (like `smbpasswd -s`).
fn read_password() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let pw = line.trim_end_matches(['\n', '\r']).to_owned();
    if pw.is_empty() {
        return Err("empty password on stdin".into());
    }
    Ok(pw)
}

fn user_set(cfg_path: Option<&Path>, name: &str, add: bool) -> Result<(), String> {
    let (cfg, _) = load_config(cfg_path)?;
    let mut store = open_accounts(&cfg)?;
    let pw = read_password()?;
    let hash = smb_auth::nt_hash(&pw);
    if add {
        store.add(name, hash).map_err(|e| e.to_string())?;
        println!("added user {name}");
    } else {
        store.set_hash(name, hash).map_err(|e| e.to_string())?;
        println!("password changed for {name}");
    }
    Ok(())
}

/// `smbed group ...`: groups of the account database (for `valid users = @group`).
fn group_cmd(cfg_path: Option<&Path>, args: &[&str]) -> Result<(), String> {
    let (cfg, _) = load_config(cfg_path)?;
    let mut store = open_accounts(&cfg)?;
    let e = |e: accounts::AccountError| e.to_string();
    match args {
        ["add", name] => {
            let g = store.add_group(name, None).map_err(e)?;
            println!("added group {} (rid {})", g.name, g.rid);
        }
        ["del", name] => {
            store.delete_group(name).map_err(e)?;
            println!("deleted group {name}");
        }
        ["addmem", group, user] => {
            store.add_member(group, user).map_err(e)?;
            println!("{user} is a member of {group}");
        }
        ["delmem", group, user] => {
            store.remove_member(group, user).map_err(e)?;
            println!("{user} is no longer a member of {group}");
        }
        ["list"] => {
            for g in store.groups() {
                let members = store.members(&g.name).map_err(e)?;
                println!("{}:{}", g.name, members.join(","));
            }
        }
        _ => return Err(format!("unknown group command\n{USAGE}")),
    }
    Ok(())
}

/// A printable random password for the default user.
fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut raw = [0u8; 16];
    host::fill_random(&mut raw);
    raw.iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

fn listen_addrs(cfg: &ValidConfig) -> Vec<std::net::SocketAddr> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    let mut ips: Vec<IpAddr> = Vec::new();
    if cfg.global.bind_interfaces_only && !cfg.global.interfaces.is_empty() {
        for i in &cfg.global.interfaces {
            match i {
                Interface::Ip { addr, .. } => ips.push(*addr),
                Interface::Name(n) if n == "lo" => ips.push(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                Interface::Name(n) => {
                    warn!("interface name '{n}' is not resolved yet; use an address");
                }
            }
        }
    } else {
        ips.push(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
    }
    let mut out = Vec::new();
    for port in &cfg.global.smb_ports {
        for ip in &ips {
            out.push(SocketAddr::new(*ip, *port));
        }
    }
    out
}

fn serve(cfg_path: Option<&Path>) -> Result<(), String> {
    pagebuf::pin_malloc_threshold();
    let (cfg, builtin) = load_config(cfg_path)?;
    log::set_level(cfg.global.log_level.max(1));
    let g = &cfg.global;
    std::fs::create_dir_all(&g.state_directory)
        .map_err(|e| format!("state directory {}: {e}", g.state_directory.display()))?;
    if builtin {
        for s in &cfg.shares {
            std::fs::create_dir_all(&s.path).map_err(|e| format!("{}: {e}", s.path.display()))?;
        }
    }
    let mut accounts = open_accounts(&cfg)?;
    if builtin && accounts.list().is_empty() {
        let pw = generate_password();
        accounts
            .add("admin", smb_auth::nt_hash(&pw))
            .map_err(|e| e.to_string())?;
        println!("smbed: created user 'admin' with password '{pw}' (shown only once;");
        println!("smbed: change it with: smbed user passwd admin)");
    }
    let ident = state::ServerIdentity::load_or_create(&g.state_directory)?;
    let sel = board::select(&cfg)?;
    eprintln!(
        "smbed: board {} ({}): {}",
        sel.board.name, sel.how, sel.board.description
    );
    // SMB3 signing/encryption backend: the board's first preference this CPU can run
    // (features from AT_HWCAP on ARM, CPUID on x86_64).
    let (backend, note) = board::crypto_backend(&sel.board);
    smb_crypto::set_default_backend(backend).map_err(|e| format!("crypto backend: {e}"))?;
    eprintln!("smbed: crypto backend {}{note}", backend.path_name());
    let limits = board::limits(&sel.board);
    if let Some(w) = board::raise_fd_limit(board::fds_needed(&limits, cfg.shares.len())) {
        eprintln!("smbed: warning: {w}");
    }

    let shares: Vec<_> = cfg.shares.iter().filter(|s| s.available).collect();
    let roots: Vec<vfs::ShareRoot> = shares
        .iter()
        .map(|s| vfs::ShareRoot {
            path: s.path.clone(),
            read_only: s.read_only,
        })
        .collect();
    let mut vfs =
        vfs::PosixVfs::new(&roots, limits.opens).map_err(|e| format!("opening shares: {e}"))?;
    // Reads of data not in the page cache run on these threads, never on the event loop.
    let (mut pool, io_done) = iopool::IoPool::start(sel.board.limits.io_threads as usize)
        .map_err(|e| format!("starting I/O threads: {e}"))?;
    if let Some(note) = pool.slow_reads_from_env()? {
        eprintln!("smbed: warning: {note}");
    }
    vfs.set_io_pool(pool);
    let policy = host::HostPolicy::new(&cfg, Box::new(accounts));
    let engine_cfg = smb_proto::Config {
        server_guid: ident.guid,
        start_time: host::now_filetime(),
        min_dialect: g.server_min_protocol.wire_value(),
        max_dialect: g.server_max_protocol.wire_value(),
        signing: match g.server_signing {
            smbed_config::Signing::Auto => smb_proto::SigningPolicy::Auto,
            smbed_config::Signing::Mandatory => smb_proto::SigningPolicy::Mandatory,
            smbed_config::Signing::Disabled => smb_proto::SigningPolicy::Disabled,
        },
        encrypt: host::encrypt_policy(g.server_smb_encrypt),
        map_to_guest: match g.map_to_guest {
            smbed_config::MapToGuest::Never => smb_proto::MapToGuest::Never,
            smbed_config::MapToGuest::BadUser => smb_proto::MapToGuest::BadUser,
            smbed_config::MapToGuest::BadPassword => smb_proto::MapToGuest::BadPassword,
        },
        netbios_name: leak(g.netbios_name.clone()),
        netbios_domain: leak(g.workgroup.clone()),
        dns_name: leak(g.netbios_name.to_lowercase()),
        dns_domain: "",
        max_io: limits.max_io,
        max_credits: limits.credits,
        // The driver sends zero-copy READ tails with sendfile.
        zero_copy_reads: true,
    };
    let storage = smb_proto::Storage {
        conns: slots(limits.conns)?,
        sessions: slots(limits.sessions)?,
        trees: slots(limits.trees)?,
        opens: slots(limits.opens)?,
        // Named pipes (srvsvc, wkssvc) are opened briefly, for share lists and server info;
        // a slot holds 16 KiB of RPC buffers, so not one per connection.
        pipes: slots((limits.conns / 4).clamp(8, 64))?,
        // Byte-range locks and directory enumerations live in their own tables, so an open
        // slot stays ~100 bytes: few opens lock, a minority enumerate.
        locks: slots((limits.opens / 2).clamp(64, 16384))?,
        searches: slots((limits.opens / 4).clamp(32, 4096))?,
        // Both are rare and sized for every connection at once; untouched slots cost nothing.
        parked: slots(limits.conns * smb_proto::state::MAX_PARKED)?,
        events: slots(limits.conns * smb_proto::state::MAX_PENDING)?,
        auths: slots(limits.sessions)?,
    };
    let server = smb_proto::Server::new(engine_cfg, vfs, policy, storage);
    let engine: driver::Engine = std::rc::Rc::new(std::cell::RefCell::new(server));

    let mut listeners = Vec::new();
    for addr in listen_addrs(&cfg) {
        let l = smol::block_on(smol::net::TcpListener::bind(addr))
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        eprintln!("smbed: listening on {addr}");
        listeners.push(l);
    }
    for s in &shares {
        eprintln!(
            "smbed: share [{}] -> {}{}",
            s.name,
            s.path.display(),
            if s.read_only { " (read only)" } else { "" }
        );
    }
    let dl = driver::DriverLimits {
        max_frame: limits.max_io as usize + 64 * 1024,
        frame_buffers: limits.frame_buffers,
        // `max connections = 0` means no limit beyond the connection table (Samba's meaning).
        max_connections: match g.max_connections as usize {
            0 => limits.conns,
            n => n.min(limits.conns),
        },
    };
    driver::run(engine, listeners, dl, io_done).map_err(|e| e.to_string())
}

/// A table's slots, mapped once at start-up for the whole process; pages become resident as
/// the table grows into them ([`pagebuf::table_slots`]).
fn slots<T>(n: usize) -> Result<&'static mut [smb_proto::Slot<T>], String> {
    pagebuf::table_slots(n).map_err(|e| format!("mapping a table of {n} slots: {e}"))
}

/// Strings the engine borrows for the process lifetime.
fn leak(s: String) -> &'static str {
    String::leak(s)
}
