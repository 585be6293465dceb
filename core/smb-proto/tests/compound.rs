//! Compound requests ([MS-SMB2] 3.3.5.2.7): related chains, error propagation, unrelated
//! chains, 8-byte alignment of the response chain and per-element signatures. Expected
//! statuses for the odd cases follow Windows as recorded by smbtorture's `smb2.compound`
//! suite (`source4/torture/smb2/compound.c`).

use smb_crypto::Signer;
use smb_testkit::client::{class, disposition, info_type};
use smb_testkit::{Create, Msg, Req, TestClient, TestServer};
use smb_wire::header::Command;
use smb_wire::{FileId, NtStatus};

const REL: FileId = FileId::RELATED;

fn client(srv: &TestServer) -> TestClient {
    TestClient::logged_on(srv, "alice", "Secret-1", "share")
}

fn statuses(msgs: &[Msg]) -> Vec<NtStatus> {
    msgs.iter().map(Msg::status).collect()
}

#[test]
fn related_create_write_close_chain() {
    let srv = TestServer::new();
    let mut c = client(&srv);
    let msgs = c.compound(&[
        Create::new("chain.txt").req(),
        Req::write(REL, 0, b"written in a chain", 0).related(),
        Req::read(REL, 13, 5, 0).related(),
        Req::close(REL, 1).related(),
    ]);
    assert_eq!(statuses(&msgs), [NtStatus::SUCCESS; 4]);
    assert_eq!(
        msgs.iter().map(Msg::command).collect::<Vec<_>>(),
        [
            Command::CREATE,
            Command::WRITE,
            Command::READ,
            Command::CLOSE
        ]
    );
    assert!(!msgs[0].is_related());
    assert!(msgs[1..].iter().all(Msg::is_related));
    assert_eq!(msgs[1].write_count(), 18);
    assert_eq!(msgs[2].data(), b"chain");
    assert_eq!(srv.counts()[3], 0, "the chain closed its file");
    assert_eq!(
        srv.vfs(|v| v.file(srv.share("share"), "chain.txt")),
        Some(b"written in a chain".to_vec())
    );
    // Message ids are echoed in order.
    let ids: Vec<u64> = msgs.iter().map(Msg::message_id).collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
}

#[test]
fn related_elements_take_session_and_tree_from_the_chain() {
    // smbtorture compound.related1: bogus ids in related elements are ignored.
    let srv = TestServer::new();
    let mut c = client(&srv);
    let msgs = c.compound(&[
        Create::new("r1").req(),
        Req::close(REL, 0)
            .related()
            .sid(u64::MAX)
            .tid(u32::MAX)
            .signed(true),
    ]);
    assert_eq!(statuses(&msgs), [NtStatus::SUCCESS; 2]);
    assert_eq!(srv.counts()[3], 0);
}

#[test]
fn failed_create_fails_the_rest_with_its_status() {
    let srv = TestServer::new();
    let mut c = client(&srv);
    let msgs = c.compound(&[
        Create::new("missing.txt")
            .disposition(disposition::OPEN)
            .req(),
        Req::write(REL, 0, b"x", 0).related(),
        Req::close(REL, 0).related(),
    ]);
    assert_eq!(statuses(&msgs), [NtStatus::OBJECT_NAME_NOT_FOUND; 3]);
    assert!(!srv.vfs(|v| v.exists(srv.share("share"), "missing.txt")));
}

#[test]
fn failed_related_create_fails_the_rest_with_its_status() {
    // CREATE in the middle of a related chain (after a related element), failing.
    let srv = TestServer::new();
    let mut c = client(&srv);
    let msgs = c.compound(&[
        Create::new("a").req(),
        Req::close(REL, 0).related(),
        Create::new("nope\\b")
            .disposition(disposition::OPEN)
            .req()
            .related(),
        Req::read(REL, 0, 1, 0).related(),
        Req::close(REL, 0).related(),
    ]);
    assert_eq!(msgs[0].status(), NtStatus::SUCCESS);
    assert_eq!(msgs[1].status(), NtStatus::SUCCESS);
    assert_eq!(msgs[2].status(), NtStatus::OBJECT_PATH_NOT_FOUND);
    assert_eq!(msgs[3].status(), NtStatus::OBJECT_PATH_NOT_FOUND);
    assert_eq!(msgs[4].status(), NtStatus::OBJECT_PATH_NOT_FOUND);
}

#[test]
fn unrelated_compound() {
    let srv = TestServer::new();
    let mut c = client(&srv);
    let a = c.open("a");
    let b = c.open("b");
    let msgs = c.compound(&[
        Req::write(a, 0, b"AAAA", 0),
        Req::write(b, 0, b"BB", 0),
        Req::read(a, 1, 2, 0),
        Req::empty(Command::ECHO),
        Create::new("c").req(),
        Req::close(a, 0),
        // An unrelated element with the all-ones FileId: FILE_CLOSED (smbtorture unrelated1).
        Req::close(REL, 0),
    ]);
    assert_eq!(
        statuses(&msgs),
        [
            NtStatus::SUCCESS,
            NtStatus::SUCCESS,
            NtStatus::SUCCESS,
            NtStatus::SUCCESS,
            NtStatus::SUCCESS,
            NtStatus::SUCCESS,
            NtStatus::FILE_CLOSED,
        ]
    );
    assert!(msgs.iter().all(|m| !m.is_related()));
    assert_eq!(msgs[2].data(), b"AA");
    assert_eq!(srv.counts()[3], 2, "b and c stay open");
    c.close(b).ok();
    c.close(msgs[4].file_id()).ok();
}

#[test]
fn related_flag_on_the_first_element_fails_the_related_chain() {
    let srv = TestServer::new();
    let mut c = client(&srv);
    let msgs = c.compound(&[
        Create::new("inv1").req().related(),
        Req::close(REL, 0).related(),
    ]);
    assert_eq!(statuses(&msgs), [NtStatus::INVALID_PARAMETER; 2]);
    assert_eq!(srv.counts()[3], 0);
    assert!(!srv.vfs(|v| v.exists(srv.share("share"), "inv1")));
    c.echo().ok();
}

#[test]
fn related_flag_on_the_first_element_is_invalid() {
    let srv = TestServer::new();
    let mut c = client(&srv);
    let msgs = c.compound(&[
        Create::new("inv1").req().related(),
        Req::close(REL, 0).related(),
        Req::close(REL, 0),
    ]);
    assert_eq!(
        statuses(&msgs),
        [
            NtStatus::INVALID_PARAMETER,
            NtStatus::INVALID_PARAMETER,
            NtStatus::FILE_CLOSED
        ]
    );
    assert_eq!(srv.counts()[3], 0);
    assert!(!srv.vfs(|v| v.exists(srv.share("share"), "inv1")));
}

#[test]
fn related_after_unrelated_does_not_inherit_an_older_file_id() {
    let srv = TestServer::new();
    let mut c = client(&srv);
    let msgs = c.compound(&[
        Create::new("inv3").req(),
        Req::close(REL, 0),
        Req::close(REL, 0),
        Req::close(REL, 0).related(),
        Req::close(REL, 0).related(),
    ]);
    assert_eq!(
        statuses(&msgs),
        [
            NtStatus::SUCCESS,
            NtStatus::FILE_CLOSED,
            NtStatus::FILE_CLOSED,
            NtStatus::FILE_CLOSED,
            NtStatus::FILE_CLOSED,
        ]
    );
}

#[test]
fn related_after_a_failed_session_lookup_is_invalid() {
    let srv = TestServer::new();
    let mut c = client(&srv);
    let msgs = c.compound(&[
        Create::new("inv2").req(),
        Req::close(REL, 0).related().sid(u64::MAX).tid(u32::MAX),
        Req::close(REL, 0).sid(u64::MAX).tid(u32::MAX).signed(false),
        Req::close(REL, 0).sid(u64::MAX).tid(u32::MAX).signed(false),
        Req::close(REL, 0).related().sid(u64::MAX).tid(u32::MAX),
    ]);
    assert_eq!(
        statuses(&msgs),
        [
            NtStatus::SUCCESS,
            NtStatus::SUCCESS,
            NtStatus::USER_SESSION_DELETED,
            NtStatus::USER_SESSION_DELETED,
            NtStatus::INVALID_PARAMETER,
        ]
    );
}

#[test]
fn unknown_command_in_a_related_chain_is_invalid_parameter() {
    // smbtorture compound.invalid4.
    let srv = TestServer::new();
    let mut c = client(&srv);
    let fid = c.open("inv4");
    let msgs = c.compound(&[
        Req::read(fid, 0, 1, 0),
        Req::new(Command(0xff), vec![4, 0, 0, 0]).related(),
    ]);
    assert_eq!(
        statuses(&msgs),
        [NtStatus::END_OF_FILE, NtStatus::INVALID_PARAMETER]
    );
    c.close(fid).ok();
}

/// Checks the response chain layout: every element but the last starts 8-aligned with
/// NextCommand equal to its padded length, the padding is zero, and each signed element
/// verifies over exactly its bytes.
fn check_chain(msgs: &[Msg], signer: Option<&Signer>) {
    for (i, m) in msgs.iter().enumerate() {
        let next = m.next_command() as usize;
        if i + 1 < msgs.len() {
            assert_ne!(next, 0, "element {i} has NextCommand 0 but is not last");
            assert_eq!(
                next % 8,
                0,
                "element {i} NextCommand {next} is not 8-aligned"
            );
            assert_eq!(next, m.bytes.len());
        } else {
            assert_eq!(next, 0, "last element's NextCommand");
        }
        if let Some(s) = signer {
            assert!(m.is_signed(), "element {i} ({:?}) not signed", m.command());
            let mut b = m.bytes.clone();
            assert!(
                s.verify(&mut b),
                "element {i} ({:?}) signature",
                m.command()
            );
        }
    }
}

#[test]
fn response_chain_is_aligned_and_every_element_is_signed() {
    let srv = TestServer::new();
    let mut c = client(&srv);
    let fid = c.open("odd");
    c.write(fid, 0, b"0123456789").ok();
    // Response sizes 83, 89, 153, 73, ...: every element but the last needs padding.
    let reqs = [
        Req::read(fid, 0, 3, 0),
        Req::read(fid, 0, 9, 0),
        Req::query_info(fid, info_type::FILE, class::NETWORK_OPEN, 56, 0, &[]),
        Req::read(fid, 100, 1, 0),
        Req::write(fid, 10, b"x", 0),
        Req::empty(Command::ECHO),
        Req::query_info(fid, info_type::FILE, class::STANDARD, 24, 0, &[]),
    ];
    let msgs = c.compound(&reqs);
    assert_eq!(msgs.len(), reqs.len());
    assert_eq!(msgs[3].status(), NtStatus::END_OF_FILE, "an error element");
    check_chain(&msgs, c.signer.as_ref());
    assert_eq!(msgs[0].data(), b"012");
    assert_eq!(msgs[1].data(), b"012345678");

    // The same for a related chain.
    let msgs = c.compound(&[
        Create::new("odd2").req(),
        Req::write(REL, 0, b"abc", 0).related(),
        Req::read(REL, 0, 3, 0).related(),
        Req::close(REL, 0).related(),
    ]);
    assert_eq!(statuses(&msgs), [NtStatus::SUCCESS; 4]);
    check_chain(&msgs, c.signer.as_ref());
    c.close(fid).ok();
}

#[test]
fn unsigned_chain_is_unsigned_and_aligned() {
    let srv = TestServer::new();
    let mut c = client(&srv);
    c.sign = false;
    let msgs = c.compound(&[
        Create::new("u").req(),
        Req::read(REL, 0, 1, 0).related(),
        Req::close(REL, 0).related(),
    ]);
    check_chain(&msgs, None);
    assert!(msgs.iter().all(|m| !m.is_signed()));
    assert_eq!(msgs[1].status(), NtStatus::END_OF_FILE);
}

#[test]
fn mixed_signed_and_unsigned_elements() {
    // Each element is verified on its own: a bad signature fails only its element.
    let srv = TestServer::new();
    let mut c = client(&srv);
    let fid = c.open("m");
    let mut frame = c.build(&[
        Req::empty(Command::ECHO),
        Req::write(fid, 0, b"bad", 0),
        Req::empty(Command::ECHO),
    ]);
    // Corrupt the second element's signature.
    let second = u32::from_le_bytes(frame[20..24].try_into().unwrap()) as usize;
    frame[second + 48] ^= 1;
    let msgs = c.send_frame(&frame).unwrap();
    assert_eq!(
        statuses(&msgs),
        [
            NtStatus::SUCCESS,
            NtStatus::ACCESS_DENIED,
            NtStatus::SUCCESS
        ]
    );
    assert_eq!(c.read(fid, 0, 3).status(), NtStatus::END_OF_FILE);
    c.close(fid).ok();
}
