//! End to end with a real DCE/RPC client: impacket's DCERPC_v5 with srvs and wkst, driven by
//! `tests/impacket_harness.py` over stdin/stdout while this test plays the pipe (see the
//! script for the line protocol).
//!
//! Skipped, with a message, when python3 or impacket is missing, unless
//! `SMB_RPC_REQUIRE_IMPACKET=1` is set (then it fails). `SMB_RPC_PYTHON` picks the
//! interpreter (default `python3`); `SMB_RPC_TRACE=1` prints each pipe operation.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use common::*;
use smb_rpc::{Pipe, PipeKind, ReadOutcome, RpcError, ShareKind, ShareSource};

/// The pipe operations, over any buffer size.
trait AnyPipe {
    fn write(&mut self, src: &dyn ShareSource, data: &[u8]) -> Result<usize, RpcError>;
    fn read(&mut self, src: &dyn ShareSource, out: &mut [u8]) -> Result<ReadOutcome, RpcError>;
    fn transceive(
        &mut self,
        src: &dyn ShareSource,
        input: &[u8],
        out: &mut [u8],
    ) -> Result<ReadOutcome, RpcError>;
}

impl<const N: usize> AnyPipe for Pipe<N> {
    fn write(&mut self, src: &dyn ShareSource, data: &[u8]) -> Result<usize, RpcError> {
        Pipe::write(self, src, data)
    }
    fn read(&mut self, src: &dyn ShareSource, out: &mut [u8]) -> Result<ReadOutcome, RpcError> {
        Pipe::read(self, src, out)
    }
    fn transceive(
        &mut self,
        src: &dyn ShareSource,
        input: &[u8],
        out: &mut [u8],
    ) -> Result<ReadOutcome, RpcError> {
        Pipe::transceive(self, src, input, out)
    }
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn json_shares(s: &Shares) -> String {
    let items: Vec<String> = s
        .list
        .iter()
        .map(|e| {
            let kind = if e.kind == ShareKind::Ipc {
                "ipc"
            } else {
                "disk"
            };
            format!(
                "[{},{},{},{}]",
                json_str(&e.name),
                json_str(&e.comment),
                json_str(kind),
                json_str(&e.path)
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn reply_read(r: Result<ReadOutcome, RpcError>, buf: &[u8]) -> String {
    match r {
        Ok(r) => format!("D {} {}", u8::from(r.more), hex(&buf[..r.len])),
        Err(e) => format!("ERR {e:?}"),
    }
}

#[test]
fn impacket_client_against_the_pipe() {
    let required = std::env::var_os("SMB_RPC_REQUIRE_IMPACKET").is_some_and(|v| v == "1");
    let python = std::env::var("SMB_RPC_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/impacket_harness.py");
    let child = Command::new(&python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            assert!(!required, "cannot run {python}: {e}");
            eprintln!("SKIPPED impacket end-to-end test: cannot run {python}: {e}");
            return;
        }
    };
    let mut to_py = child.stdin.take().unwrap();
    let mut from_py = BufReader::new(child.stdout.take().unwrap());

    let mut small = Shares::small();
    small.list.push(Share {
        name: "\u{dc}n\u{ef}c\u{f8}d\u{e9} \u{1f600}".into(),
        comment: String::new(),
        kind: ShareKind::Disk,
        path: "C:\\u".into(),
    });
    let many = Shares::many(300);
    let paged = Shares::many(100);
    writeln!(
        to_py,
        "FIXTURES {{\"small\":{},\"many\":{},\"paged\":{}}}",
        json_shares(&small),
        json_shares(&many),
        json_shares(&paged)
    )
    .unwrap();
    to_py.flush().unwrap();

    let mut pipe: Option<(Box<dyn AnyPipe>, &Shares)> = None;
    let mut buf = vec![0u8; 65536];
    let mut commands = 0;
    let outcome = loop {
        let mut line = String::new();
        if from_py.read_line(&mut line).unwrap() == 0 {
            break "harness exited without a verdict".to_string();
        }
        let line = line.trim_end();
        let mut f = line.split(' ');
        let cmd = f.next().unwrap_or("");
        commands += 1;
        let answer = match cmd {
            "OPEN" => {
                let kind = PipeKind::from_name(f.next().unwrap()).unwrap();
                let (p, src): (Box<dyn AnyPipe>, &Shares) = match f.next().unwrap() {
                    "small" => (
                        Box::new(Pipe::<{ smb_rpc::MIN_OUT_CAPACITY }>::new(kind)),
                        &small,
                    ),
                    "many" => (
                        Box::new(Pipe::<{ smb_rpc::DEFAULT_OUT_CAPACITY }>::new(kind)),
                        &many,
                    ),
                    "paged" => (Box::new(Pipe::<{ 64 * 1024 }>::new(kind)), &paged),
                    other => panic!("fixture {other}"),
                };
                pipe = Some((p, src));
                "OK".to_string()
            }
            "W" => {
                let (p, src) = pipe.as_mut().unwrap();
                match p.write(*src, &unhex(f.next().unwrap_or(""))) {
                    Ok(n) => format!("OK {n}"),
                    Err(e) => format!("ERR {e:?}"),
                }
            }
            "T" => {
                let (p, src) = pipe.as_mut().unwrap();
                let max: usize = f.next().unwrap().parse().unwrap();
                let input = unhex(f.next().unwrap_or(""));
                let r = p.transceive(*src, &input, &mut buf[..max]);
                reply_read(r, &buf)
            }
            "R" => {
                let (p, src) = pipe.as_mut().unwrap();
                let max: usize = f.next().unwrap().parse().unwrap();
                let r = p.read(*src, &mut buf[..max]);
                reply_read(r, &buf)
            }
            "PASS" | "SKIP" | "FAIL" => break line.to_string(),
            other => panic!("unknown harness command {other:?}"),
        };
        if std::env::var_os("SMB_RPC_TRACE").is_some() {
            eprintln!(
                "{} -> {}",
                &line[..line.len().min(60)],
                &answer[..answer.len().min(60)]
            );
        }
        writeln!(to_py, "{answer}").unwrap();
        to_py.flush().unwrap();
    };
    drop(to_py);
    let _ = child.wait();
    if let Some(why) = outcome.strip_prefix("SKIP ") {
        assert!(!required, "impacket required but: {why}");
        eprintln!("SKIPPED impacket end-to-end test: {why}");
        return;
    }
    assert!(outcome.starts_with("PASS "), "{outcome}");
    let checks: usize = outcome[5..].parse().unwrap();
    eprintln!("impacket: {checks} checks over {commands} pipe operations");
    assert!(checks > 500, "{outcome}");
}
