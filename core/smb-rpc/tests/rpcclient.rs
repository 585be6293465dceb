//! Samba's own RPC client against the pipe: `rpcclient` over ncacn_ip_tcp to a loopback
//! listener that feeds a [`Pipe`] (DCE/RPC over TCP is the same PDU stream as over a named
//! pipe). The srvsvc calls it makes (NetShareEnumAll, NetShareGetInfo, NetSrvGetInfo) decode
//! our replies with the same generated NDR code `smbclient -L` uses.
//!
//! Samba's client finds the TCP port through the endpoint mapper on port 135, so the test
//! answers `ept_map` there with a hand-built tower (test code, not part of the crate). It needs
//! to bind 127.0.0.1:135 (root) and an installed rpcclient; otherwise it is skipped with a
//! message, unless `SMB_RPC_REQUIRE_RPCCLIENT=1` is set.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use smb_rpc::{Pipe, PipeKind, RpcError, ShareKind};

/// Serves one TCP connection with a fresh pipe of `kind`, until the client hangs up.
fn serve_conn(mut sock: TcpStream, kind: PipeKind, src: &Shares) {
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut pipe: Box<Pipe> = Box::new(Pipe::new(kind));
    let mut buf = vec![0u8; 8192];
    let mut out = vec![0u8; 8192];
    loop {
        let n = match sock.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut pos = 0;
        while pos < n {
            match pipe.write(src, &buf[pos..n]) {
                Ok(k) => pos += k,
                Err(RpcError::Busy) => {}
                Err(_) => pos = n,
            }
            while let Ok(r) = pipe.read(src, &mut out) {
                if sock.write_all(&out[..r.len]).is_err() {
                    return;
                }
            }
        }
        if pipe.is_broken() {
            break;
        }
    }
    let _ = sock.shutdown(Shutdown::Both);
}

/// Accepts connections until `stop`, each served on its own thread (rpcclient keeps one
/// connection open while it opens the next).
fn accept_loop(
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    f: impl Fn(TcpStream) + Clone + Send + 'static,
) {
    let mut conns = Vec::new();
    for sock in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if let Ok(sock) = sock {
            let f = f.clone();
            conns.push(std::thread::spawn(move || f(sock)));
        }
    }
    for c in conns {
        c.join().unwrap();
    }
}

fn read_pdu(sock: &mut TcpStream) -> Option<Vec<u8>> {
    let mut h = [0u8; 16];
    sock.read_exact(&mut h).ok()?;
    let n = u16_at(&h, 8) as usize;
    let mut pdu = h.to_vec();
    pdu.resize(n.max(16), 0);
    sock.read_exact(&mut pdu[16..]).ok()?;
    Some(pdu)
}

/// A minimal endpoint mapper: accepts the bind, answers every ept_map with one tower
/// naming `iface` at 127.0.0.1:`port`.
fn epmapper_conn(mut sock: TcpStream, iface: ([u8; 16], u32), port: u16) {
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    while let Some(pdu) = read_pdu(&mut sock) {
        let call_id = u32_at(&pdu, 12);
        let reply = match pdu[2] {
            11 => {
                let n = pdu[24];
                let mut v = header(12, 3, call_id);
                le16(&mut v, 4280);
                le16(&mut v, 4280);
                le32(&mut v, 0x1234);
                le16(&mut v, 4);
                v.extend_from_slice(b"135\0");
                v.extend_from_slice(&[0, 0]);
                v.extend_from_slice(&[n, 0, 0, 0]);
                for i in 0..n {
                    if i == 0 {
                        le32(&mut v, 0);
                        v.extend_from_slice(&NDR.0);
                        le32(&mut v, NDR.1);
                    } else {
                        le16(&mut v, 2);
                        le16(&mut v, 2);
                        v.extend_from_slice(&[0; 20]);
                    }
                }
                finish(v)
            }
            0 => {
                let mut tower = Vec::new();
                le16(&mut tower, 5);
                for (uuid, ver) in [iface, NDR] {
                    le16(&mut tower, 19);
                    tower.push(0x0d);
                    tower.extend_from_slice(&uuid);
                    le16(&mut tower, ver as u16);
                    le16(&mut tower, 2);
                    le16(&mut tower, 0);
                }
                tower.extend_from_slice(&[1, 0, 0x0b, 2, 0, 0, 0]);
                tower.extend_from_slice(&[1, 0, 0x07, 2, 0]);
                #[expect(clippy::big_endian_bytes, reason = "tower ports are big-endian")]
                tower.extend_from_slice(&port.to_be_bytes());
                tower.extend_from_slice(&[1, 0, 0x09, 4, 0, 127, 0, 0, 1]);
                let mut stub = vec![0u8; 20]; // entry_handle
                le32(&mut stub, 1); // num_towers
                for x in [
                    1u32,
                    0,
                    1,
                    0x0002_0000,
                    tower.len() as u32,
                    tower.len() as u32,
                ] {
                    le32(&mut stub, x);
                }
                stub.extend_from_slice(&tower);
                while !stub.len().is_multiple_of(4) {
                    stub.push(0);
                }
                le32(&mut stub, 0);
                let mut v = header(2, 3, call_id);
                le32(&mut v, stub.len() as u32);
                le32(&mut v, 0);
                v.extend_from_slice(&stub);
                finish(v)
            }
            _ => break,
        };
        if sock.write_all(&reply).is_err() {
            break;
        }
    }
}

struct Servers {
    stop: Arc<AtomicBool>,
    ports: [u16; 2],
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Servers {
    /// The endpoint mapper on 127.0.0.1:135 and the pipe on an ephemeral port.
    fn start(kind: PipeKind, iface: ([u8; 16], u32), src: Shares) -> Result<Self, String> {
        let epm = TcpListener::bind("127.0.0.1:135").map_err(|e| format!("bind 135: {e}"))?;
        let svc = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = svc.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let s1 = stop.clone();
        let s2 = stop.clone();
        let threads = vec![
            std::thread::spawn(move || {
                accept_loop(epm, s1, move |c| epmapper_conn(c, iface, port));
            }),
            std::thread::spawn(move || {
                let src = Arc::new(src);
                accept_loop(svc, s2, move |c| serve_conn(c, kind, &src));
            }),
        ];
        Ok(Self {
            stop,
            ports: [135, port],
            threads,
        })
    }

    fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for p in self.ports {
            let _ = TcpStream::connect(("127.0.0.1", p));
        }
        for t in self.threads {
            t.join().unwrap();
        }
    }
}

fn skip_or_fail(why: &str) {
    let required = std::env::var_os("SMB_RPC_REQUIRE_RPCCLIENT").is_some_and(|v| v == "1");
    assert!(!required, "rpcclient test required but: {why}");
    eprintln!("SKIPPED rpcclient test: {why}");
}

/// Runs rpcclient `commands` against a `kind` pipe serving `src`: its output, stdout then
/// stderr, and whether it exited 0.
fn rpcclient_status(
    kind: PipeKind,
    iface: ([u8; 16], u32),
    src: Shares,
    commands: &str,
) -> Option<(String, bool)> {
    let servers = match Servers::start(kind, iface, src) {
        Ok(s) => s,
        Err(why) => {
            skip_or_fail(&why);
            return None;
        }
    };
    let out = Command::new("timeout")
        .args([
            "60",
            "rpcclient",
            "-U%",
            "-N",
            "ncacn_ip_tcp:127.0.0.1",
            "-c",
            commands,
        ])
        .output();
    servers.stop();
    let out = match out {
        Ok(o) if o.status.code() != Some(127) => o,
        other => {
            skip_or_fail(&format!("rpcclient not runnable: {other:?}"));
            return None;
        }
    };
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    Some((text, out.status.success()))
}

/// [`rpcclient_status`] for commands that must succeed.
fn rpcclient(
    kind: PipeKind,
    iface: ([u8; 16], u32),
    src: Shares,
    commands: &str,
) -> Option<String> {
    let (text, ok) = rpcclient_status(kind, iface, src, commands)?;
    assert!(ok, "rpcclient failed:\n{text}");
    Some(text)
}

/// One test, as only one listener can hold port 135.
#[test]
fn rpcclient_against_the_pipe() {
    if lists_shares().is_none() {
        return;
    }
    long_list_in_fragments();
    workstation_info();
}

fn lists_shares() -> Option<()> {
    let mut src = Shares::small();
    src.list.push(Share {
        name: "m\u{fc}sic".into(),
        comment: "Songs \u{266b}".into(),
        kind: ShareKind::Disk,
        path: "C:\\music".into(),
    });
    let text = rpcclient(
        PipeKind::Srvsvc,
        SRVSVC,
        src,
        "netshareenumall 1; netsharegetinfo data 2; netsharegetinfo m\u{fc}sic 1005; srvinfo",
    )?;
    eprintln!("{text}");
    for want in [
        "netname: IPC$",
        "remark:\tIPC Service (nas)",
        "netname: data",
        "remark:\tData",
        "netname: m\u{fc}sic",
        "remark:\tSongs \u{266b}",
        "path:\tC:\\data",
        "NAS",
        "smbed nas",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    Some(())
}

fn long_list_in_fragments() {
    let src = Shares::many(150);
    let text = rpcclient(PipeKind::Srvsvc, SRVSVC, src, "netshareenumall 2").unwrap();
    assert!(text.contains("netname: share0000-\u{e9}t\u{e9}"), "{text}");
    assert!(text.contains("netname: share0149-\u{e9}t\u{e9}"), "{text}");
    assert!(text.contains("path:\tC:\\srv\\share0149"), "{text}");
    assert_eq!(text.matches("netname: ").count(), 151, "{text}");
}

fn workstation_info() {
    // rpcclient prints nothing for a successful NetWkstaGetInfo, and the WERROR otherwise; a
    // reply it cannot decode would show as an NT_STATUS error.
    let text = rpcclient(
        PipeKind::Wkssvc,
        WKSSVC,
        Shares::small(),
        "wkssvc_wkstagetinfo 100",
    )
    .unwrap();
    assert!(
        !text.contains("result was") && !text.contains("NT_STATUS"),
        "{text}"
    );
    let (text, ok) = rpcclient_status(
        PipeKind::Wkssvc,
        WKSSVC,
        Shares::small(),
        "wkssvc_wkstagetinfo 102",
    )
    .unwrap();
    assert!(!ok && text.contains("WERR_INVALID_LEVEL"), "{text}");
}
