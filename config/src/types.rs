//! Value types of the validated configuration and their smb.conf spellings.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

/// An SMB2/3 dialect, ordered from oldest to newest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dialect {
    /// SMB 2.0.2 (Windows Vista / Server 2008).
    Smb2_02,
    /// SMB 2.1 (Windows 7 / Server 2008 R2).
    Smb2_10,
    /// SMB 3.0 (Windows 8 / Server 2012).
    Smb3_00,
    /// SMB 3.0.2 (Windows 8.1 / Server 2012 R2).
    Smb3_02,
    /// SMB 3.1.1 (Windows 10 / Server 2016 and later).
    Smb3_11,
}

impl Dialect {
    /// All dialects, oldest first.
    pub const ALL: [Dialect; 5] = [
        Dialect::Smb2_02,
        Dialect::Smb2_10,
        Dialect::Smb3_00,
        Dialect::Smb3_02,
        Dialect::Smb3_11,
    ];

    /// The Samba spelling, e.g. `SMB3_11`.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Smb2_02 => "SMB2_02",
            Dialect::Smb2_10 => "SMB2_10",
            Dialect::Smb3_00 => "SMB3_00",
            Dialect::Smb3_02 => "SMB3_02",
            Dialect::Smb3_11 => "SMB3_11",
        }
    }

    /// The dialect revision number used on the wire (MS-SMB2 2.2.3), e.g. `0x0311`.
    pub fn wire_value(self) -> u16 {
        match self {
            Dialect::Smb2_02 => 0x0202,
            Dialect::Smb2_10 => 0x0210,
            Dialect::Smb3_00 => 0x0300,
            Dialect::Smb3_02 => 0x0302,
            Dialect::Smb3_11 => 0x0311,
        }
    }

    /// Parses a Samba protocol name. `is_max` decides what the family names
    /// `SMB2`/`SMB3`/`default` mean: the newest of the family for
    /// `server max protocol`, the oldest for `server min protocol`.
    pub(crate) fn parse(value: &str, is_max: bool) -> Result<Dialect, &'static str> {
        let v = value.trim().to_ascii_uppercase();
        Ok(match v.as_str() {
            "SMB2_02" => Dialect::Smb2_02,
            "SMB2_10" => Dialect::Smb2_10,
            "SMB3_00" => Dialect::Smb3_00,
            "SMB3_02" => Dialect::Smb3_02,
            "SMB3_11" => Dialect::Smb3_11,
            "SMB2" if is_max => Dialect::Smb2_10,
            "SMB2" => Dialect::Smb2_02,
            "SMB3" | "DEFAULT" if is_max => Dialect::Smb3_11,
            "SMB3" => Dialect::Smb3_00,
            "DEFAULT" => Dialect::Smb2_02,
            "NT1" | "SMB1" | "LANMAN1" | "LANMAN2" | "CORE" | "COREPLUS" => {
                return Err("SMB1 is not supported")
            }
            _ => {
                return Err(
                    "expected SMB2_02, SMB2_10, SMB3_00, SMB3_02, SMB3_11, SMB2, SMB3 or default",
                )
            }
        })
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `server signing`.
///
/// Samba spellings: `auto`, `default`, `if_required`, `desired`, `yes`, `true`,
/// `on`, `enabled`, `1` → [`Auto`](Signing::Auto); `mandatory`, `required`,
/// `force`, `forced`, `enforced` → [`Mandatory`](Signing::Mandatory); `disabled`,
/// `no`, `false`, `off`, `0` → [`Disabled`](Signing::Disabled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signing {
    /// Sign when the client asks for it (and always where SMB 3.1.1 requires it).
    Auto,
    /// Require signed sessions.
    Mandatory,
    /// Do not ask for signing. SMB2/3 clients that require signing still get it.
    Disabled,
}

impl Signing {
    pub(crate) fn parse(value: &str) -> Option<Signing> {
        Some(match norm_word(value).as_str() {
            "auto" | "default" | "ifrequired" | "desired" | "yes" | "true" | "on" | "enabled"
            | "1" => Signing::Auto,
            "mandatory" | "required" | "force" | "forced" | "enforced" => Signing::Mandatory,
            "disabled" | "no" | "false" | "off" | "0" => Signing::Disabled,
            _ => return None,
        })
    }

    /// The smb.conf spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Signing::Auto => "auto",
            Signing::Mandatory => "mandatory",
            Signing::Disabled => "disabled",
        }
    }
}

impl fmt::Display for Signing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `server smb encrypt` / `smb encrypt`, with Samba's meanings.
///
/// Samba spellings: `off`, `no`, `false`, `disabled`, `0` → [`Off`](Encrypt::Off);
/// `if_required`, `default`, `auto`, `yes`, `true`, `on`, `enabled`, `1` →
/// [`IfRequired`](Encrypt::IfRequired); `desired` → [`Desired`](Encrypt::Desired);
/// `required`, `mandatory`, `force`, `forced`, `enforced` →
/// [`Required`](Encrypt::Required).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Encrypt {
    /// Encryption is not offered.
    Off,
    /// Encryption is offered (advertised) and used when the client asks for it,
    /// but the server does not turn it on by itself. Samba's default.
    IfRequired,
    /// The server turns encryption on for clients that support it.
    Desired,
    /// Unencrypted access is refused.
    Required,
}

impl Encrypt {
    pub(crate) fn parse(value: &str) -> Option<Encrypt> {
        Some(match norm_word(value).as_str() {
            "off" | "no" | "false" | "disabled" | "0" => Encrypt::Off,
            "ifrequired" | "default" | "auto" | "yes" | "true" | "on" | "enabled" | "1" => {
                Encrypt::IfRequired
            }
            "desired" => Encrypt::Desired,
            "required" | "mandatory" | "force" | "forced" | "enforced" => Encrypt::Required,
            _ => return None,
        })
    }

    /// The smb.conf spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Encrypt::Off => "off",
            Encrypt::IfRequired => "if_required",
            Encrypt::Desired => "desired",
            Encrypt::Required => "required",
        }
    }
}

impl fmt::Display for Encrypt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `map to guest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MapToGuest {
    /// Failed logons are refused.
    Never,
    /// Logons with an unknown user name become guest logons.
    BadUser,
    /// Logons with an unknown user or a wrong password become guest logons.
    BadPassword,
}

impl MapToGuest {
    pub(crate) fn parse(value: &str) -> Option<MapToGuest> {
        Some(match norm_word(value).as_str() {
            "never" => MapToGuest::Never,
            "baduser" => MapToGuest::BadUser,
            "badpassword" => MapToGuest::BadPassword,
            _ => return None,
        })
    }

    /// The smb.conf spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MapToGuest::Never => "Never",
            MapToGuest::BadUser => "Bad User",
            MapToGuest::BadPassword => "Bad Password",
        }
    }
}

impl fmt::Display for MapToGuest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `passdb backend`, with the path resolved (a bare `smbpasswd` uses
/// `smb passwd file`; a bare `tdbsam` uses `<private dir>/passdb.tdb`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PassdbBackend {
    /// Samba's smbpasswd text file.
    SmbPasswd(PathBuf),
    /// Samba's tdbsam database.
    TdbSam(PathBuf),
}

impl PassdbBackend {
    /// The database file.
    pub fn path(&self) -> &std::path::Path {
        match self {
            PassdbBackend::SmbPasswd(p) | PassdbBackend::TdbSam(p) => p,
        }
    }
}

impl fmt::Display for PassdbBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PassdbBackend::SmbPasswd(p) => write!(f, "smbpasswd:{}", p.display()),
            PassdbBackend::TdbSam(p) => write!(f, "tdbsam:{}", p.display()),
        }
    }
}

/// One entry of `interfaces`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Interface {
    /// An address, optionally with a prefix length (`192.168.1.10/24`; an IPv4
    /// netmask such as `/255.255.255.0` is turned into its prefix length).
    Ip {
        /// The address.
        addr: IpAddr,
        /// The prefix length, if one was given.
        prefix: Option<u8>,
    },
    /// An interface name such as `eth0`, `lo` or a pattern such as `eth*`; the
    /// daemon resolves it to addresses.
    Name(String),
}

impl Interface {
    pub(crate) fn parse(item: &str) -> Result<Interface, String> {
        if let Some((addr, mask)) = item.split_once('/') {
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| format!("'{addr}' is not an IP address"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix = if let Ok(p) = mask.parse::<u8>() {
                p
            } else if let (true, Ok(m)) = (addr.is_ipv4(), mask.parse::<Ipv4Addr>()) {
                netmask_prefix(m).ok_or_else(|| format!("'{mask}' is not a valid netmask"))?
            } else {
                return Err(format!("'{mask}' is not a prefix length or netmask"));
            };
            if prefix > max {
                return Err(format!("prefix length {prefix} is larger than {max}"));
            }
            return Ok(Interface::Ip {
                addr,
                prefix: Some(prefix),
            });
        }
        if let Ok(addr) = item.parse::<IpAddr>() {
            return Ok(Interface::Ip { addr, prefix: None });
        }
        if item.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(format!("'{item}' is not a valid IP address"));
        }
        let ok_chars = item
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-:@*".contains(&b));
        if item.is_empty() || item.len() > 15 || !ok_chars {
            return Err(format!(
                "'{item}' is neither an IP address nor an interface name"
            ));
        }
        Ok(Interface::Name(item.to_owned()))
    }
}

fn netmask_prefix(m: Ipv4Addr) -> Option<u8> {
    let bits = u32::from(m);
    let ones = bits.leading_ones();
    if bits.checked_shl(ones).unwrap_or(0) == 0 {
        u8::try_from(ones).ok()
    } else {
        None
    }
}

impl fmt::Display for Interface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Interface::Ip { addr, prefix: None } => write!(f, "{addr}"),
            Interface::Ip {
                addr,
                prefix: Some(p),
            } => write!(f, "{addr}/{p}"),
            Interface::Name(n) => f.write_str(n),
        }
    }
}

/// Lower-cases and drops spaces and underscores, so that `Bad User`,
/// `bad_user` and `baduser` compare equal.
pub(crate) fn norm_word(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Samba booleans: `yes`/`no`, `true`/`false`, `on`/`off`, `1`/`0`, any case.
pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Some(true),
        "no" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}
