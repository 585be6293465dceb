//! Unit tests for parsing, validation, includes and display.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::*;

// ---------------------------------------------------------------------------
// Helpers

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "smbed-config-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn write(&self, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
        let p = self.0.join(name);
        if let Some(dir) = p.parent() {
            fs::create_dir_all(dir).unwrap();
        }
        fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Parses `text` as `smb.conf` and expects success.
fn ok(text: &str) -> (ValidConfig, Vec<Warning>) {
    match from_str(text, "smb.conf") {
        Ok(r) => r,
        Err(e) => panic!("unexpected error: {e}\n--- input ---\n{text}"),
    }
}

/// Parses `text` as `smb.conf` and expects an error; returns its display.
fn err(text: &str) -> String {
    match from_str(text, "smb.conf") {
        Ok((c, _)) => panic!("expected an error, got {c:?}\n--- input ---\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn global(text: &str) -> GlobalConfig {
    ok(&format!("[global]\n{text}\n[s]\npath = /srv/s\n"))
        .0
        .global
}

fn share(text: &str) -> ShareConfig {
    let (c, _) = ok(&format!("[s]\npath = /srv/s\n{text}\n"));
    c.shares.into_iter().next().unwrap()
}

fn warnings(text: &str) -> Vec<String> {
    ok(text).1.iter().map(ToString::to_string).collect()
}

fn has_warning(ws: &[String], needle: &str) -> bool {
    ws.iter().any(|w| w.contains(needle))
}

/// A tiny deterministic PRNG (xorshift64*), so fuzz tests need no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

// ---------------------------------------------------------------------------
// Syntax

#[test]
fn sections_params_and_comments() {
    let (raw, w) = Config::parse_str(
        "# comment\n; another\n  # indented comment\n\nworkgroup = HOME\n\
         [Data]\n  path = /srv/data\n\tcomment = My   data  \n",
        "smb.conf",
    )
    .unwrap();
    assert!(w.is_empty());
    assert_eq!(raw.sections.len(), 2);
    assert_eq!(raw.global().unwrap().params[0].key, "workgroup");
    assert_eq!(raw.global().unwrap().params[0].value, "HOME");
    let data = raw.section("data").unwrap();
    assert_eq!(data.name, "Data");
    assert_eq!(data.location.as_ref().unwrap().line, 6);
    assert_eq!(data.params[0].value, "/srv/data");
    assert_eq!(data.params[1].value, "My data");
    assert_eq!(data.params[1].location.to_string(), "smb.conf:8");
}

#[test]
fn parameter_names_ignore_case_spaces_and_underscores() {
    for name in [
        "server min protocol",
        "servermin protocol",
        "server_min_protocol",
        "ServerMinProtocol",
        "  SERVER   MIN\tPROTOCOL ",
    ] {
        let g = global(&format!("{name} = SMB3_02"));
        assert_eq!(g.server_min_protocol, Dialect::Smb3_02, "{name}");
    }
    assert_eq!(normalize_key("Read_Only"), "readonly");
}

#[test]
fn no_inline_comments_like_samba() {
    assert_eq!(share("comment = a # b ; c").comment, "a # b ; c");
}

#[test]
fn value_may_contain_equals_and_brackets() {
    assert_eq!(share("comment = a=b [c]").comment, "a=b [c]");
}

#[test]
fn line_continuation() {
    let text = "[s]\npath = /srv/s\nvalid users = alice, \\\n    bob \\\n  carol\n\
                comment = one\\\ntwo\nbrowseable = no\n";
    let (c, _) = ok(text);
    let s = &c.shares[0];
    assert_eq!(s.valid_users, ["alice", "bob", "carol"]);
    assert_eq!(s.comment, "onetwo");
    assert!(!s.browseable);
    // Trailing whitespace after the backslash still continues.
    assert_eq!(share("comment = x \\  \n y").comment, "x y");
    // A backslash on the last line is dropped.
    assert_eq!(share("comment = last\\").comment, "last");
}

#[test]
fn continuation_keeps_first_line_number() {
    let e = err("[s]\npath = /srv/s\nread only = \\\n maybe\n");
    assert_eq!(
        e,
        "smb.conf:3: invalid value 'maybe' for 'read only': expected yes or no"
    );
}

#[test]
fn crlf_and_bom() {
    let (c, w) = ok("\u{feff}[s]\r\npath = /srv/s\r\nread only = no\r\n");
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(c.shares[0].path, Path::new("/srv/s"));
    assert!(!c.shares[0].read_only);
}

#[test]
fn params_before_first_section_are_global() {
    let g = global("");
    assert_eq!(g.workgroup, "WORKGROUP");
    let (c, _) = ok("workgroup = home\n[s]\npath = /s\n");
    assert_eq!(c.global.workgroup, "HOME");
}

#[test]
fn text_after_section_header_warns() {
    let ws = warnings("[s] junk\npath = /s\n");
    assert!(has_warning(
        &ws,
        "smb.conf:1: text 'junk' after section header [s] ignored"
    ));
    assert!(warnings("[s] # fine\npath = /s\n").is_empty());
}

#[test]
fn later_value_overrides_earlier() {
    assert!(!share("read only = yes\nread only = no").read_only);
}

#[test]
fn duplicate_sections_merge_case_insensitively() {
    let (c, _) = ok(
        "[Media]\npath = /srv/media\ncomment = first\n[s]\npath = /s\n\
         [MEDIA]\ncomment = second\nread only = no\n[global]\nworkgroup = X\n",
    );
    assert_eq!(c.shares.len(), 2);
    let m = c.share("media").unwrap();
    assert_eq!(m.name, "Media");
    assert_eq!(m.path, Path::new("/srv/media"));
    assert_eq!(m.comment, "second");
    assert!(!m.read_only);
    assert_eq!(c.global.workgroup, "X");
}

// ---------------------------------------------------------------------------
// Global parameters

#[test]
fn smb_ports() {
    assert_eq!(GlobalConfig::defaults().smb_ports, [445]);
    assert_eq!(global("smb ports = 445 139").smb_ports, [445, 139]);
    assert_eq!(global("smb ports = 4455, 445,4455").smb_ports, [4455, 445]);
    assert_eq!(
        err("smb ports = 0\n"),
        "smb.conf:1: invalid value '0' for 'smb ports': expected port numbers from 1 to 65535"
    );
    assert!(err("smb ports = 70000\n").contains("'smb ports'"));
    assert!(err("smb ports = http\n").contains("'smb ports'"));
    assert_eq!(
        err("smb ports =\n"),
        "smb.conf:1: invalid value '' for 'smb ports': expected at least one port number"
    );
}

#[test]
fn interfaces() {
    let g = global("interfaces = 192.168.1.10/24 lo, eth0 ::1 10.0.0.1/255.255.0.0 fe80::1/64 br*");
    assert_eq!(
        g.interfaces,
        [
            Interface::Ip {
                addr: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10)),
                prefix: Some(24)
            },
            Interface::Name("lo".into()),
            Interface::Name("eth0".into()),
            Interface::Ip {
                addr: IpAddr::V6(Ipv6Addr::LOCALHOST),
                prefix: None
            },
            Interface::Ip {
                addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                prefix: Some(16)
            },
            Interface::Ip {
                addr: "fe80::1".parse().unwrap(),
                prefix: Some(64)
            },
            Interface::Name("br*".into()),
        ]
    );
    assert!(global("").interfaces.is_empty());
    assert!(global("interfaces =").interfaces.is_empty());
    for bad in [
        "10.0.0.1/33",
        "::1/129",
        "10.0.0.1/255.0.255.0",
        "10.0.0.1/x",
        "nothost/24",
        "192.168.1",
        "eth0!",
        "averyveryverylonginterfacename",
    ] {
        let e = err(&format!("interfaces = {bad}\n"));
        assert!(
            e.starts_with(&format!(
                "smb.conf:1: invalid value '{bad}' for 'interfaces': "
            )),
            "{e}"
        );
    }
    let (c, w) = ok("interfaces = \"eth0;speed=1000000000\"\n[s]\npath=/s\n");
    assert_eq!(c.global.interfaces, [Interface::Name("eth0".into())]);
    assert!(w[0].to_string().contains("interface options"));
}

#[test]
fn bind_interfaces_only_and_booleans() {
    for (v, b) in [
        ("yes", true),
        ("Yes", true),
        ("TRUE", true),
        ("1", true),
        ("on", true),
        ("no", false),
        ("False", false),
        ("0", false),
        ("OFF", false),
    ] {
        assert_eq!(
            global(&format!("bind interfaces only = {v}")).bind_interfaces_only,
            b
        );
    }
    assert!(!global("").bind_interfaces_only);
    assert_eq!(
        err("bind interfaces only = maybe\n"),
        "smb.conf:1: invalid value 'maybe' for 'bind interfaces only': expected yes or no"
    );
}

#[test]
fn directories_and_passdb() {
    let g = global("");
    assert_eq!(g.state_directory, Path::new(DEFAULT_STATE_DIR));
    assert_eq!(g.private_dir, Path::new(DEFAULT_STATE_DIR));
    assert_eq!(g.smb_passwd_file, Path::new("/var/lib/smbed/smbpasswd"));
    assert_eq!(
        g.passdb_backend,
        PassdbBackend::SmbPasswd("/var/lib/smbed/smbpasswd".into())
    );

    let g = global("state directory = /data/state");
    assert_eq!(g.private_dir, Path::new("/data/state"));
    assert_eq!(g.smb_passwd_file, Path::new("/data/state/smbpasswd"));

    let g = global("state directory = /st\nprivate dir = /priv");
    assert_eq!(g.state_directory, Path::new("/st"));
    assert_eq!(g.private_dir, Path::new("/priv"));
    assert_eq!(
        g.passdb_backend,
        PassdbBackend::SmbPasswd("/priv/smbpasswd".into())
    );

    let g = global("private directory = /p\nsmb passwd file = /etc/smbpw");
    assert_eq!(g.private_dir, Path::new("/p"));
    assert_eq!(
        g.passdb_backend,
        PassdbBackend::SmbPasswd("/etc/smbpw".into())
    );

    let g = global("passdb backend = smbpasswd:/x/pw\nsmb passwd file = /etc/smbpw");
    assert_eq!(g.passdb_backend, PassdbBackend::SmbPasswd("/x/pw".into()));
    assert_eq!(g.passdb_backend.path(), Path::new("/x/pw"));

    let g = global("private dir = /p\npassdb backend = tdbsam");
    assert_eq!(
        g.passdb_backend,
        PassdbBackend::TdbSam("/p/passdb.tdb".into())
    );
    let g = global("passdb backend = TDBSAM:/q/db.tdb");
    assert_eq!(g.passdb_backend, PassdbBackend::TdbSam("/q/db.tdb".into()));
    assert_eq!(
        err("passdb backend = ldapsam:ldap://x\n"),
        "smb.conf:1: invalid value 'ldapsam:ldap://x' for 'passdb backend': \
         expected smbpasswd[:PATH] or tdbsam[:PATH]"
    );
    assert_eq!(
        err("state directory =\n"),
        "smb.conf:1: invalid value '' for 'state directory': expected a path"
    );
    let ws = warnings("state directory = rel/state\n[s]\npath = /s\n");
    assert!(has_warning(
        &ws,
        "smb.conf:1: 'state directory' is a relative path"
    ));
}

#[test]
fn protocols() {
    let g = global("");
    assert_eq!(g.server_min_protocol, Dialect::Smb2_02);
    assert_eq!(g.server_max_protocol, Dialect::Smb3_11);
    for (v, min, max) in [
        ("SMB2_02", Dialect::Smb2_02, Dialect::Smb2_02),
        ("smb2_10", Dialect::Smb2_10, Dialect::Smb2_10),
        ("SMB3_00", Dialect::Smb3_00, Dialect::Smb3_00),
        ("SMB3_02", Dialect::Smb3_02, Dialect::Smb3_02),
        ("SMB3_11", Dialect::Smb3_11, Dialect::Smb3_11),
        ("SMB2", Dialect::Smb2_02, Dialect::Smb2_10),
        ("SMB3", Dialect::Smb3_00, Dialect::Smb3_11),
        ("default", Dialect::Smb2_02, Dialect::Smb3_11),
    ] {
        let g = global(&format!(
            "server min protocol = {v}\nserver max protocol = {v}"
        ));
        assert_eq!(
            (g.server_min_protocol, g.server_max_protocol),
            (min, max),
            "{v}"
        );
    }
    assert_eq!(
        global("min protocol = SMB3").server_min_protocol,
        Dialect::Smb3_00
    );
    assert_eq!(
        global("max protocol = SMB2").server_max_protocol,
        Dialect::Smb2_10
    );
    assert_eq!(
        global("protocol = SMB3_00").server_max_protocol,
        Dialect::Smb3_00
    );
    for smb1 in ["NT1", "LANMAN1", "LANMAN2", "CORE", "COREPLUS"] {
        assert_eq!(
            err(&format!("[global]\nserver min protocol = {smb1}\n")),
            format!(
                "smb.conf:2: invalid value '{smb1}' for 'server min protocol': \
                 SMB1 is not supported"
            )
        );
    }
    assert!(err("server max protocol = NT1\n").ends_with("SMB1 is not supported"));
    assert!(err("server max protocol = SMB2_22\n").contains("expected SMB2_02"));
    assert_eq!(
        err("server max protocol = SMB2\n\nserver min protocol = SMB3\n"),
        "smb.conf:3: server min protocol SMB3_00 is higher than server max protocol SMB2_10"
    );
    assert_eq!(
        err("server min protocol = SMB3_11\nserver max protocol = SMB3_02\n"),
        "smb.conf:2: server min protocol SMB3_11 is higher than server max protocol SMB3_02"
    );
    assert_eq!(Dialect::Smb3_11.wire_value(), 0x0311);
    assert!(Dialect::Smb2_02 < Dialect::Smb3_11);
}

#[test]
fn server_signing() {
    assert_eq!(global("").server_signing, Signing::Auto);
    for (v, s) in [
        ("auto", Signing::Auto),
        ("default", Signing::Auto),
        ("if_required", Signing::Auto),
        ("If Required", Signing::Auto),
        ("desired", Signing::Auto),
        ("yes", Signing::Auto),
        ("mandatory", Signing::Mandatory),
        ("Required", Signing::Mandatory),
        ("forced", Signing::Mandatory),
        ("enforced", Signing::Mandatory),
        ("disabled", Signing::Disabled),
        ("off", Signing::Disabled),
        ("no", Signing::Disabled),
    ] {
        assert_eq!(
            global(&format!("server signing = {v}")).server_signing,
            s,
            "{v}"
        );
    }
    assert_eq!(
        err("server signing = sometimes\n"),
        "smb.conf:1: invalid value 'sometimes' for 'server signing': \
         expected auto, mandatory or disabled"
    );
    let ws = warnings("server signing = off\n[s]\npath = /s\n");
    assert!(has_warning(&ws, "smb.conf:1: server signing = disabled"));
}

#[test]
fn server_smb_encrypt() {
    assert_eq!(global("").server_smb_encrypt, Encrypt::IfRequired);
    for (v, e) in [
        ("off", Encrypt::Off),
        ("disabled", Encrypt::Off),
        ("no", Encrypt::Off),
        ("if_required", Encrypt::IfRequired),
        ("default", Encrypt::IfRequired),
        ("auto", Encrypt::IfRequired),
        ("yes", Encrypt::IfRequired),
        ("desired", Encrypt::Desired),
        ("required", Encrypt::Required),
        ("mandatory", Encrypt::Required),
        ("force", Encrypt::Required),
    ] {
        assert_eq!(
            global(&format!("server smb encrypt = {v}")).server_smb_encrypt,
            e,
            "{v}"
        );
    }
    // `smb encrypt` in [global] is the same parameter, as in Samba.
    assert_eq!(
        global("smb encrypt = desired").server_smb_encrypt,
        Encrypt::Desired
    );
    assert_eq!(
        err("server smb encrypt = always\n"),
        "smb.conf:1: invalid value 'always' for 'smb encrypt': \
         expected off, if_required, desired or required"
    );
}

#[test]
fn map_to_guest_and_guest_account() {
    assert_eq!(global("").map_to_guest, MapToGuest::Never);
    assert_eq!(
        global("map to guest = Bad User").map_to_guest,
        MapToGuest::BadUser
    );
    assert_eq!(
        global("map to guest = bad_password").map_to_guest,
        MapToGuest::BadPassword
    );
    assert_eq!(
        global("map to guest = never").map_to_guest,
        MapToGuest::Never
    );
    assert_eq!(
        err("map to guest = Bad Uid\n"),
        "smb.conf:1: invalid value 'Bad Uid' for 'map to guest': \
         expected never, bad user or bad password"
    );
    assert_eq!(global("").guest_account, "nobody");
    assert_eq!(global("guest account = smbguest").guest_account, "smbguest");
    assert!(err("guest account =\n").contains("'guest account'"));
    assert!(err("guest account = a:b\n").contains("'guest account'"));
}

#[test]
fn log_level() {
    assert_eq!(global("").log_level, 0);
    assert_eq!(global("log level = 10").log_level, 10);
    assert_eq!(global("debug level = 2").log_level, 2);
    let (c, w) = ok("log level = 3 auth:5 passdb:10\n[s]\npath = /s\n");
    assert_eq!(c.global.log_level, 3);
    assert_eq!(
        w[0].to_string(),
        "smb.conf:1: per-class log levels 'auth:5 passdb:10' are not supported; using log level 3"
    );
    for bad in ["11", "-1", "loud", "auth:5"] {
        assert_eq!(
            err(&format!("log level = {bad}\n")),
            format!(
                "smb.conf:1: invalid value '{bad}' for 'log level': expected a number from 0 to 10"
            )
        );
    }
}

#[test]
fn netbios_name_and_workgroup() {
    let d = default_netbios_name();
    assert!(!d.is_empty() && d.chars().count() <= 15);
    assert_eq!(d, d.to_uppercase());
    assert_eq!(global("").netbios_name, d);
    assert_eq!(global("netbios name = nas").netbios_name, "NAS");
    assert_eq!(
        global("netbios name = ABCDEFGHIJKLMNO").netbios_name,
        "ABCDEFGHIJKLMNO"
    );
    assert_eq!(
        err("netbios name = ABCDEFGHIJKLMNOP\n"),
        "smb.conf:1: invalid value 'ABCDEFGHIJKLMNOP' for 'netbios name': \
         expected at most 15 characters"
    );
    assert!(err("netbios name = nas.local\n").contains("cannot contain"));
    assert!(err("netbios name = my nas\n").contains("cannot contain"));
    assert!(err("netbios name =\n").contains("expected a name"));
    assert_eq!(global("").workgroup, "WORKGROUP");
    assert_eq!(global("workgroup = home").workgroup, "HOME");
    assert!(err("workgroup = A_VERY_LONG_WORKGROUP\n").contains("'workgroup'"));
}

#[test]
fn server_string_board_max_connections() {
    assert_eq!(global("").server_string, "smbed");
    assert_eq!(global("server string = Home NAS").server_string, "Home NAS");
    assert_eq!(global("").board, None);
    assert_eq!(global("board = rpi4").board.as_deref(), Some("rpi4"));
    assert_eq!(global("board =").board, None);
    assert_eq!(global("board = auto").board, None);
    assert_eq!(global("board = AUTO").board, None);
    assert_eq!(
        global("board = /etc/smbed/acme.toml").board.as_deref(),
        Some("/etc/smbed/acme.toml")
    );
    let e = from_str("board = rpi9\n", "smb.conf").unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("smb.conf:1") && msg.contains("rpi4"), "{msg}");
    assert_eq!(global("").max_connections, 0);
    assert_eq!(global("max connections = 25").max_connections, 25);
    assert_eq!(
        err("max connections = lots\n"),
        "smb.conf:1: invalid value 'lots' for 'max connections': expected a number (0 = unlimited)"
    );
    assert!(err("max connections = -1\n").contains("'max connections'"));
}

// ---------------------------------------------------------------------------
// Share parameters

#[test]
fn share_defaults() {
    let s = share("");
    assert_eq!(s.name, "s");
    assert_eq!(s.path, Path::new("/srv/s"));
    assert_eq!(s.comment, "");
    assert!(s.read_only);
    assert!(!s.guest_ok);
    assert!(s.valid_users.is_empty());
    assert!(s.invalid_users.is_empty());
    assert!(s.browseable);
    assert!(s.available);
    assert_eq!(s.smb_encrypt, Encrypt::IfRequired);
}

#[test]
fn share_path() {
    assert_eq!(share("directory = /other").path, Path::new("/other"));
    assert_eq!(
        err("[global]\nworkgroup = X\n\n[docs]\ncomment = no path\n"),
        "smb.conf:4: share [docs] has no 'path'"
    );
    assert_eq!(
        err("[docs]\npath =\n"),
        "smb.conf:2: invalid value '' for 'path': expected a path"
    );
    let ws = warnings("[docs]\npath = srv/docs\n");
    assert!(has_warning(
        &ws,
        "smb.conf:2: 'path' is a relative path ('srv/docs')"
    ));
}

#[test]
fn share_read_only_and_inverses() {
    assert!(!share("read only = no").read_only);
    assert!(share("read only = yes").read_only);
    assert!(!share("writeable = yes").read_only);
    assert!(!share("writable = yes").read_only);
    assert!(!share("write ok = yes").read_only);
    assert!(share("writable = no").read_only);
    assert!(!share("readonly = no").read_only);
    assert_eq!(
        err("[s]\npath = /s\nwriteable = perhaps\n"),
        "smb.conf:3: invalid value 'perhaps' for 'writeable': expected yes or no"
    );
}

#[test]
fn share_booleans() {
    assert!(share("guest ok = yes").guest_ok);
    assert!(share("public = yes").guest_ok);
    assert!(!share("browseable = no").browseable);
    assert!(!share("browsable = no").browseable);
    assert!(!share("available = no").available);
    // Aliases are reported under their canonical name.
    for (p, canon) in [
        ("guest ok", "guest ok"),
        ("public", "guest ok"),
        ("browseable", "browseable"),
        ("browsable", "browseable"),
        ("available", "available"),
    ] {
        let e = err(&format!("[s]\npath = /s\n{p} = 2\n"));
        assert_eq!(
            e,
            format!("smb.conf:3: invalid value '2' for '{canon}': expected yes or no")
        );
    }
}

#[test]
fn share_user_lists() {
    let s = share("valid users = alice, bob @staff \"+Domain Users\"\ninvalid users = root;@wheel");
    assert_eq!(s.valid_users, ["alice", "bob", "@staff", "+Domain Users"]);
    assert_eq!(s.invalid_users, ["root", "@wheel"]);
    assert!(share("valid users =").valid_users.is_empty());
    assert_eq!(
        err("[s]\npath = /s\nvalid users = alice @\n"),
        "smb.conf:3: invalid value 'alice @' for 'valid users': '@' is not a user or @group name"
    );
}

#[test]
fn share_smb_encrypt() {
    assert_eq!(
        share("smb encrypt = required").smb_encrypt,
        Encrypt::Required
    );
    assert_eq!(share("smb encrypt = off").smb_encrypt, Encrypt::Off);
    let (c, _) = ok(
        "server smb encrypt = desired\n[a]\npath = /a\n[b]\npath = /b\nsmb encrypt = required\n",
    );
    assert_eq!(c.shares[0].smb_encrypt, Encrypt::Desired);
    assert_eq!(c.shares[1].smb_encrypt, Encrypt::Required);
    let ws = warnings("server smb encrypt = off\n[a]\npath = /a\nsmb encrypt = required\n");
    assert!(has_warning(
        &ws,
        "smb.conf:2: share [a] requires encryption"
    ));
    assert!(err("[s]\npath = /s\nsmb encrypt = bogus\n")
        .starts_with("smb.conf:3: invalid value 'bogus' for 'smb encrypt'"));
}

#[test]
fn share_parameters_in_global_are_defaults() {
    let (c, _) = ok("[global]\nread only = no\nguest ok = yes\ncomment = dflt\n\
         valid users = @users\n[a]\npath = /a\n[b]\npath = /b\nread only = yes\ncomment = b\n");
    let a = c.share("a").unwrap();
    assert!(!a.read_only && a.guest_ok);
    assert_eq!(a.comment, "dflt");
    assert_eq!(a.valid_users, ["@users"]);
    let b = c.share("b").unwrap();
    assert!(b.read_only && b.guest_ok);
    assert_eq!(b.comment, "b");
}

#[test]
fn global_parameter_in_share_warns() {
    let (c, w) = ok("[s]\npath = /s\nworkgroup = OTHER\n");
    assert_eq!(c.global.workgroup, "WORKGROUP");
    assert_eq!(
        w[0].to_string(),
        "smb.conf:3: global parameter 'workgroup' in share section [s] ignored"
    );
}

#[test]
fn homes_and_printers_are_skipped() {
    let (c, w) = ok("[homes]\ncomment = Home\n[printers]\npath = /var/spool\n[s]\npath = /s\n");
    assert_eq!(c.shares.len(), 1);
    let ws: Vec<String> = w.iter().map(ToString::to_string).collect();
    assert!(has_warning(&ws, "smb.conf:1: [homes] is not supported"));
    assert!(has_warning(&ws, "smb.conf:3: [printers] is not supported"));
}

#[test]
fn share_names() {
    assert_eq!(
        err("[IPC$]\npath = /tmp\n"),
        "smb.conf:1: share name [IPC$] is reserved and cannot be defined"
    );
    assert!(err("[ipc$]\npath = /tmp\n").contains("reserved"));
    let long = "x".repeat(81);
    assert_eq!(
        err(&format!("[{long}]\npath = /tmp\n")),
        format!("smb.conf:1: invalid share name [{long}]: longer than 80 characters")
    );
    let (c, _) = ok(&format!("[{}]\npath = /tmp\n", "y".repeat(80)));
    assert_eq!(c.shares[0].name.len(), 80);
    for bad in [
        "a/b", "a\\b", "a:b", "a*", "a?", "a\"b", "a<b", "a>b", "a|b",
    ] {
        let e = err(&format!("\n[{bad}]\npath = /tmp\n"));
        assert!(
            e.starts_with(&format!("smb.conf:2: invalid share name [{bad}]")),
            "{e}"
        );
    }
    let (c, _) = ok("[print$]\npath = /p\n[My Music]\npath = /m\n[ünïcödé]\npath = /u\n");
    assert_eq!(c.shares.len(), 3);
    assert!(c.share("my music").is_some());
    assert!(c.share("ÜNÏCÖDÉ").is_some());
}

#[test]
fn no_shares_warns() {
    let ws = warnings("[global]\nworkgroup = X\n");
    assert!(has_warning(&ws, "no shares are defined"));
}

// ---------------------------------------------------------------------------
// Warnings

#[test]
fn unknown_parameters_warn_with_location() {
    let (c, w) = ok(
        "[global]\nfoo bar = 1\nsecurity = user\n[s]\npath = /s\nvfs objects = fruit\n\
         fruit:metadata = stream\nhosts allow = 192.168.1.\n",
    );
    assert_eq!(c.shares.len(), 1);
    let ws: Vec<String> = w.iter().map(ToString::to_string).collect();
    assert_eq!(
        ws,
        [
            "smb.conf:2: unknown parameter 'foo bar' in [global] ignored",
            "smb.conf:3: unknown parameter 'security' in [global] ignored",
            "smb.conf:6: unknown parameter 'vfs objects' in [s] ignored",
            "smb.conf:7: parametric option 'fruit:metadata' in [s] ignored",
            "smb.conf:8: 'hosts allow' in [s] is not supported by smbed and is ignored: \
             access is NOT restricted by it",
        ]
    );
    assert_eq!(w[0].location, Some(Location::new("smb.conf", 2)));
    assert_eq!(
        w[0].message,
        "unknown parameter 'foo bar' in [global] ignored"
    );
}

#[test]
fn substitutions_warn_once() {
    let (c, w) = ok("server string = %h server\n[s]\npath = /srv/%U\ncomment = 100% sure\n");
    assert_eq!(c.global.server_string, "%h server");
    assert_eq!(c.shares[0].path, Path::new("/srv/%U"));
    let subst: Vec<_> = w
        .iter()
        .filter(|w| w.message.contains("substitution"))
        .collect();
    assert_eq!(subst.len(), 1);
    assert_eq!(subst[0].location, Some(Location::new("smb.conf", 1)));
    assert!(warnings("[s]\npath = /s\ncomment = 100% sure\n").is_empty());
}

#[test]
fn warning_display_without_location() {
    let w = Warning::general("hello");
    assert_eq!(w.to_string(), "hello");
}

// ---------------------------------------------------------------------------
// Syntax errors

#[test]
fn syntax_errors_have_file_and_line() {
    assert_eq!(
        err("[global]\nworkgroup = X\n[abc\npath = /x\n"),
        "smb.conf:3: unterminated section header (missing ']')"
    );
    assert_eq!(err("\n[ ]\n"), "smb.conf:2: empty section name '[]'");
    assert_eq!(err("[]\n"), "smb.conf:1: empty section name '[]'");
    assert_eq!(
        err("[s]\npath = /s\njust some words\n"),
        "smb.conf:3: expected 'name = value', a '[section]' header or a comment ('#' or ';')"
    );
    assert_eq!(
        err("[s]\n = value\n"),
        "smb.conf:2: missing parameter name before '='"
    );
    assert_eq!(err("=\n"), "smb.conf:1: missing parameter name before '='");
}

#[test]
fn invalid_value_example_from_docs() {
    let text = format!("{}[data]\npath = /srv\nread only = maybe\n", "\n".repeat(9));
    assert_eq!(
        err(&text),
        "smb.conf:12: invalid value 'maybe' for 'read only': expected yes or no"
    );
}

#[test]
fn invalid_utf8_reports_line() {
    let e = Config::parse_str("ok = 1\n", "x").map(|_| ());
    assert!(e.is_ok());
    let dir = TempDir::new();
    let p = dir.write("smb.conf", b"[s]\npath = /s\ncomment = caf\xe9\n");
    let e = load(&p).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::InvalidUtf8));
    assert_eq!(e.to_string(), format!("{}:3: invalid UTF-8", p.display()));
}

#[test]
fn nul_byte_reports_line() {
    let e = err("[s]\npath = /s\0\n");
    assert_eq!(e, "smb.conf:2: NUL byte in text (is this a binary file?)");
}

#[test]
fn too_large() {
    let big = format!("# {}\n", "x".repeat(MAX_FILE_SIZE as usize));
    let e = from_str(&big, "big.conf").unwrap_err();
    assert!(matches!(e.kind, ErrorKind::TooLarge { .. }));
    assert_eq!(e.location, None);
    assert_eq!(
        e.to_string(),
        format!("'big.conf' is too large (limit {MAX_FILE_SIZE} bytes)")
    );

    let dir = TempDir::new();
    let p = dir.write("smb.conf", big.as_bytes());
    assert!(matches!(
        load(&p).unwrap_err().kind,
        ErrorKind::TooLarge { .. }
    ));
}

#[test]
fn very_long_lines_are_fine_below_the_limit() {
    let long = "a".repeat(500_000);
    let (c, _) = ok(&format!("[s]\npath = /s\ncomment = {long}\n"));
    assert_eq!(c.shares[0].comment.len(), 500_000);
    let e = err(&format!("{long}\n"));
    assert!(e.starts_with("smb.conf:1: expected"));
}

// ---------------------------------------------------------------------------
// Files and includes

#[test]
fn load_file() {
    let dir = TempDir::new();
    let p = dir.write("smb.conf", "[global]\nworkgroup = home\n[s]\npath = /s\n");
    let (c, w) = load(&p).unwrap();
    assert!(w.is_empty());
    assert_eq!(c.global.workgroup, "HOME");
}

#[test]
fn load_missing_file() {
    let dir = TempDir::new();
    let p = dir.path().join("nope.conf");
    let e = load(&p).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Io { .. }));
    assert_eq!(e.location, None);
    assert!(e
        .to_string()
        .starts_with(&format!("cannot read '{}': ", p.display())));
    assert!(std::error::Error::source(&e).is_some());
    assert!(load(dir.path()).is_err());
}

#[test]
fn include_relative_to_including_file() {
    let dir = TempDir::new();
    dir.write(
        "etc/shares/media.conf",
        "[media]\npath = /srv/media\ninclude = more.conf\n",
    );
    dir.write("etc/shares/more.conf", "read only = no\n");
    let main = dir.write(
        "etc/smb.conf",
        "[global]\nworkgroup = home\ninclude = shares/media.conf\n\
         comment = after include\n",
    );
    let (c, _) = load(&main).unwrap();
    let m = c.share("media").unwrap();
    assert!(!m.read_only);
    // Text after the include continues in the section the included file left open.
    assert_eq!(m.comment, "after include");
    assert_eq!(c.global.workgroup, "HOME");
}

#[test]
fn include_from_str_uses_origin_directory() {
    let dir = TempDir::new();
    dir.write("inc.conf", "[s]\npath = /s\n");
    let origin = dir.path().join("smb.conf");
    let (c, _) = from_str("include = inc.conf\n", origin.to_str().unwrap()).unwrap();
    assert_eq!(c.shares[0].name, "s");
    let abs = dir.path().join("inc.conf");
    let (c, _) = from_str(&format!("include = {}\n", abs.display()), "smb.conf").unwrap();
    assert_eq!(c.shares[0].name, "s");
}

#[test]
fn errors_in_included_files_name_that_file() {
    let dir = TempDir::new();
    let inc = dir.write("inc.conf", "[s]\npath = /s\n\nread only = maybe\n");
    let main = dir.write("smb.conf", "include = inc.conf\n");
    let e = load(&main).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:4: invalid value 'maybe' for 'read only': expected yes or no",
            inc.display()
        )
    );
    let ws_dir = TempDir::new();
    let inc = ws_dir.write("inc.conf", "[s]\npath = /s\nbogus = 1\n");
    let main = ws_dir.write("smb.conf", "include = inc.conf\n");
    let (_, w) = load(&main).unwrap();
    assert_eq!(
        w[0].to_string(),
        format!(
            "{}:3: unknown parameter 'bogus' in [s] ignored",
            inc.display()
        )
    );
}

#[test]
fn include_missing_file_is_an_error() {
    let dir = TempDir::new();
    let main = dir.write("smb.conf", "[global]\n\ninclude = missing.conf\n");
    let e = load(&main).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Io { .. }));
    assert_eq!(e.location.as_ref().unwrap().line, 3);
    assert!(
        e.to_string().starts_with(&format!(
            "{}:3: cannot read '{}': ",
            main.display(),
            dir.path().join("missing.conf").display()
        )),
        "{e}"
    );
    assert_eq!(
        err("include =\n"),
        "smb.conf:1: invalid value '' for 'include': expected a file name"
    );
}

#[test]
fn include_cycles_are_errors() {
    let dir = TempDir::new();
    let own = dir.write("self.conf", "[s]\npath = /s\ninclude = self.conf\n");
    let e = load(&own).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::IncludeCycle { .. }));
    assert_eq!(e.location.as_ref().unwrap().line, 3);

    dir.write("a.conf", "include = b.conf\n");
    dir.write("b.conf", "\ninclude = ./a.conf\n");
    let main = dir.write("main.conf", "include = a.conf\n");
    let e = load(&main).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::IncludeCycle { .. }));
    assert_eq!(
        e.to_string(),
        format!(
            "{}:2: include cycle: '{}' is already being read",
            dir.path().join("b.conf").display(),
            dir.path().join("./a.conf").display()
        )
    );

    // from_str with a real file as origin also detects a cycle back to it.
    let origin = dir.write("origin.conf", "");
    dir.write("back.conf", "include = origin.conf\n");
    let e = from_str("include = back.conf\n", origin.to_str().unwrap()).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::IncludeCycle { .. }));
}

#[test]
fn including_a_file_twice_without_cycle_is_fine() {
    let dir = TempDir::new();
    dir.write("common.conf", "read only = no\n");
    let main = dir.write(
        "smb.conf",
        "[a]\npath = /a\ninclude = common.conf\n[b]\npath = /b\ninclude = common.conf\n",
    );
    let (c, _) = load(&main).unwrap();
    assert!(c.shares.iter().all(|s| !s.read_only));
}

#[test]
fn include_depth_is_bounded() {
    let dir = TempDir::new();
    for i in 0..=MAX_INCLUDE_DEPTH + 1 {
        dir.write(
            &format!("f{i}.conf"),
            format!("include = f{}.conf\n", i + 1),
        );
    }
    let e = load(&dir.path().join("f0.conf")).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::IncludeTooDeep { .. }), "{e}");
    assert!(e
        .to_string()
        .ends_with("includes nested more than 16 levels deep"));

    // Exactly at the limit works.
    let dir = TempDir::new();
    for i in 0..MAX_INCLUDE_DEPTH {
        dir.write(
            &format!("f{i}.conf"),
            format!("include = f{}.conf\n", i + 1),
        );
    }
    dir.write(&format!("f{MAX_INCLUDE_DEPTH}.conf"), "[s]\npath = /s\n");
    assert!(load(&dir.path().join("f0.conf")).is_ok());
}

#[test]
fn include_total_size_is_bounded() {
    let dir = TempDir::new();
    let chunk = format!("# {}\n", "x".repeat((MAX_FILE_SIZE - 10) as usize));
    dir.write("big.conf", chunk.as_bytes());
    let includes = "include = big.conf\n".repeat(5);
    let main = dir.write("smb.conf", includes.as_bytes());
    let e = load(&main).unwrap_err();
    assert!(matches!(e.kind, ErrorKind::TooLarge { limit, .. } if limit == MAX_TOTAL_SIZE));
    assert_eq!(e.location.as_ref().unwrap().line, 4);
}

#[test]
fn include_with_substitution_is_skipped() {
    let (c, w) = ok("[s]\npath = /s\ninclude = /etc/smbed/%m.conf\n");
    assert_eq!(c.shares.len(), 1);
    assert!(w[0]
        .to_string()
        .starts_with("smb.conf:3: include '/etc/smbed/%m.conf' uses a '%'"));
}

// ---------------------------------------------------------------------------
// Defaults and display

#[test]
fn default_config_values() {
    let c = default_config(Path::new("/tmp/base"));
    let g = &c.global;
    assert_eq!(g.smb_ports, [4455]);
    assert_eq!(
        g.interfaces,
        [Interface::Ip {
            addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            prefix: None
        }]
    );
    assert!(g.bind_interfaces_only);
    assert_eq!(g.state_directory, Path::new("/tmp/base/state"));
    assert_eq!(g.private_dir, Path::new("/tmp/base/state"));
    assert_eq!(g.server_signing, Signing::Auto);
    assert_eq!(g.map_to_guest, MapToGuest::Never);
    assert_eq!(
        g.passdb_backend,
        PassdbBackend::SmbPasswd("/tmp/base/state/smbpasswd".into())
    );
    assert_eq!(c.shares.len(), 1);
    assert_eq!(c.shares[0].name, "share");
    assert_eq!(c.shares[0].path, Path::new("/tmp/base/share"));
    assert!(!c.shares[0].read_only);
}

#[test]
fn display_round_trips_default_config() {
    let c = default_config(Path::new("/tmp/base dir"));
    let text = c.to_string();
    assert!(text.contains("[global]\n\tnetbios name = "));
    assert!(text.contains("\tsmb ports = 4455\n"));
    assert!(text.contains("\tinterfaces = 127.0.0.1\n"));
    assert!(text.contains("[share]\n\tpath = /tmp/base dir/share\n"));
    let (back, w) = ok(&text);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(back, c);
}

#[test]
fn display_round_trips_a_full_config() {
    let text = "[global]\nnetbios name = nas\nworkgroup = home\nserver string = Home NAS\n\
        smb ports = 445 4455\ninterfaces = 192.168.1.2/24 eth0 ::1\nbind interfaces only = yes\n\
        state directory = /data/smbed\nserver min protocol = SMB3\nserver max protocol = SMB3_02\n\
        server signing = mandatory\nserver smb encrypt = desired\nmap to guest = bad user\n\
        guest account = guest\nlog level = 4\npassdb backend = tdbsam\nboard = rpi4\n\
        max connections = 8\n\
        [Media]\npath = /srv/media\ncomment = Films and music\nguest ok = yes\n\
        [Backup]\npath = /srv/backup\nread only = no\nbrowseable = no\nvalid users = alice \"@nas users\"\n\
        invalid users = root\nsmb encrypt = required\navailable = no\n";
    let (c, _) = ok(text);
    let shown = c.to_string();
    let (back, w) = ok(&shown);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(back, c, "{shown}");
    assert_eq!(
        c.share("backup").unwrap().valid_users,
        ["alice", "@nas users"]
    );
    assert!(shown.contains("\tvalid users = alice, \"@nas users\"\n"));
    assert!(shown.contains("\tmap to guest = Bad User\n"));
    assert!(shown.contains("\tpassdb backend = tdbsam:/data/smbed/passdb.tdb\n"));
}

#[test]
fn example_file_loads_cleanly() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/smb.conf");
    let (c, w) = load(&p).unwrap();
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(c.shares.len(), 2);
    let public = c.shares.iter().find(|s| s.guest_ok).unwrap();
    assert!(public.read_only);
}

// ---------------------------------------------------------------------------
// Robustness

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for _ in 0..3000 {
        let len = rng.below(300);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let text = String::from_utf8_lossy(&bytes);
        let _ = from_str(&text, "fuzz.conf");
    }
}

#[test]
fn random_token_soup_never_panics() {
    const TOKENS: &[&str] = &[
        "[",
        "]",
        "=",
        "\n",
        "\\\n",
        " ",
        "\t",
        "#",
        ";",
        "global",
        "homes",
        "IPC$",
        "s",
        "path",
        "/srv",
        "read only",
        "yes",
        "maybe",
        "include",
        "%U",
        "\"",
        ",",
        "smb ports",
        "445",
        "0",
        "interfaces",
        "10.0.0.1/33",
        "eth0",
        "server min protocol",
        "NT1",
        "SMB3",
        "server max protocol",
        "SMB2",
        "log level",
        "3 auth:5",
        "netbios name",
        "ABCDEFGHIJKLMNOPQ",
        "valid users",
        "@",
        "passdb backend",
        "tdbsam:",
        "\r",
        "ü",
        "smb encrypt",
        "required",
        "\u{feff}",
    ];
    let mut rng = Rng(42);
    for _ in 0..5000 {
        let n = rng.below(40);
        let text: String = (0..n).map(|_| TOKENS[rng.below(TOKENS.len())]).collect();
        if let Ok((c, _)) = from_str(&text, "soup.conf") {
            // Whatever loads must display as something that loads to the same.
            let (back, _) = from_str(&c.to_string(), "shown.conf").unwrap();
            assert_eq!(back, c, "input {text:?}");
        }
    }
}

#[test]
fn mutated_example_never_panics() {
    let base = fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/smb.conf")).unwrap();
    let mut rng = Rng(7);
    for _ in 0..2000 {
        let mut bytes = base.clone();
        for _ in 0..1 + rng.below(8) {
            let i = rng.below(bytes.len());
            match rng.below(3) {
                0 => bytes[i] = rng.next() as u8,
                1 => {
                    bytes.remove(i);
                }
                _ => bytes.insert(i, b"[]=\\\n#;%\"\0"[rng.below(10)]),
            }
        }
        let dir_free = String::from_utf8_lossy(&bytes).replace("include", "inc");
        let _ = from_str(&dir_free, "mut.conf");
    }
}

#[test]
fn unterminated_header_and_garbage_variants() {
    for text in [
        "[abc", "[", "[[", "]", "[a]]", "[a\\\n]", "=", "==", " = = ", "\\", "\\\n\\\n", "\n\n\n[",
        "[global", "a=\\", "#\\\n[x", "\u{0}", "\r\r\r",
    ] {
        let _ = from_str(text, "g.conf");
    }
    assert_eq!(err("[a\\\n]\n"), "smb.conf:1: share [a] has no 'path'");
}

#[test]
fn hand_built_config_validates_without_panicking() {
    let empty = Config {
        sections: Vec::new(),
    };
    let (c, w) = empty.validate().unwrap();
    assert!(c.shares.is_empty());
    assert_eq!(w.len(), 1);

    let (mut raw, _) = Config::parse_str("[a]\npath = /a\n", "x.conf").unwrap();
    let mut dup = raw.sections[1].clone();
    dup.name = "A".to_owned();
    raw.sections.push(dup);
    let e = raw.validate().unwrap_err();
    assert_eq!(
        e.to_string(),
        "x.conf:1: invalid share name [A]: defined twice"
    );
}
