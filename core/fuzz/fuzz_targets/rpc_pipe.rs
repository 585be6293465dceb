//! DCE/RPC over a named pipe (`smb_rpc::Pipe`): arbitrary writes (binds, requests, garbage)
//! to srvsvc and wkssvc pipes, each followed by reads until nothing is left.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smb_rpc::{Pipe, PipeKind, ServerInfo, ShareEntry, ShareKind, ShareSource};

struct Shares;

impl ShareSource for Shares {
    fn shares(&self, f: &mut dyn FnMut(&ShareEntry<'_>)) {
        for (name, kind) in [("IPC$", ShareKind::Ipc), ("data", ShareKind::Disk)] {
            f(&ShareEntry {
                name,
                comment: "fuzz",
                kind,
                path: "C:\\\\data",
                max_uses: u32::MAX,
                current_uses: 1,
                flags: 0,
            });
        }
    }
    fn server_info(&self) -> ServerInfo<'_> {
        ServerInfo::new("NAS", "WORKGROUP", "smbed")
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let kind = if sel & 1 == 0 {
        PipeKind::from_name("srvsvc")
    } else {
        PipeKind::from_name("wkssvc")
    };
    let Some(kind) = kind else {
        return;
    };
    let mut pipe: Box<Pipe<65536>> = Box::new(Pipe::new(kind));
    let mut out = vec![0u8; 4096];
    // Writes of the sizes a client would use, cut from the input.
    for chunk in rest.chunks(usize::from(sel >> 1).max(1) * 16) {
        if pipe.write(&Shares, chunk).is_err() {
            break;
        }
        for _ in 0..64 {
            match pipe.read(&Shares, &mut out) {
                Ok(_) if pipe.readable() > 0 => continue,
                _ => break,
            }
        }
    }
});
