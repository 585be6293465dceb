//! CREATE options that announce an access pattern ([MS-SMB2] 2.2.13): the VFS is told, so
//! the host can advise the kernel's read-ahead.

use smb_testkit::TestServer;

/// CREATE's FILE_SEQUENTIAL_ONLY / FILE_RANDOM_ACCESS reach the VFS as an access hint (the
/// host turns it into read-ahead advice).
#[test]
fn create_options_become_an_access_hint() {
    use smb_proto::vfs::AccessHint;
    use smb_testkit::client::Create;

    let ts = TestServer::new();
    let mut c = ts.client();
    c.negotiate().ok();
    c.login("alice", "Secret-1").ok();
    c.tree_connect("share").ok();
    for (opts, want) in [
        (0x4, AccessHint::Sequential),
        (0x800, AccessHint::Random),
        (0, AccessHint::Normal),
    ] {
        c.create_with(&Create::new("hinted.bin").disposition(3).options(opts))
            .ok();
        assert_eq!(ts.vfs(|v| v.last_access), want, "options {opts:#x}");
    }
}
