//! Engine micro-benchmarks: header parsing, path normalization, and whole requests through the
//! sans-I/O engine over the in-memory VFS (signed 3.1.1 session), so regressions in the
//! per-request CPU cost show up without a network or a disk.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use smb_testkit::client::{Create, Req};
use smb_testkit::TestServer;
use smb_wire::{Header, NtStatus};

fn wire(c: &mut Criterion) {
    let mut msg = [0u8; 64];
    msg[..4].copy_from_slice(&smb_wire::header::PROTOCOL_ID);
    msg[4] = 64;
    c.bench_function("header/parse", |b| {
        b.iter(|| {
            Header::new_checked(std::hint::black_box(&msg[..]))
                .map(|h| (h.command(), h.message_id(), h.session_id()))
        })
    });
    let name: Vec<u8> = "Documents\\Photos\\2026\\holiday-0001.jpg"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let mut out = [0u8; 512];
    c.bench_function("path/normalize", |b| {
        b.iter(|| {
            smb_proto::path::normalize(std::hint::black_box(&name), &mut out).map(|p| p.len())
        })
    });
}

fn engine(c: &mut Criterion) {
    let ts = TestServer::new();
    let mut cl = ts.client();
    cl.negotiate();
    cl.login("alice", "Secret-1");
    cl.tree_connect("share");
    let fid = cl.create_with(&Create::new("bench.dat")).file_id();
    let data = vec![0x5a_u8; 64 * 1024];
    cl.send(Req::write(fid, 0, &data, 0))
        .expect(NtStatus::SUCCESS);

    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Bytes(4096));
    g.bench_function("read 4 KiB signed", |b| {
        b.iter(|| cl.send(Req::read(fid, 0, 4096, 0)).status())
    });
    g.throughput(Throughput::Bytes(64 * 1024));
    g.bench_function("write 64 KiB signed", |b| {
        b.iter(|| cl.send(Req::write(fid, 0, &data, 0)).status())
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("create+close signed", |b| {
        b.iter(|| {
            let f = cl.create_with(&Create::new("meta.dat")).file_id();
            cl.send(Req::close(f, 0)).status()
        })
    });
    g.finish();
}

criterion_group!(benches, wire, engine);
criterion_main!(benches);
