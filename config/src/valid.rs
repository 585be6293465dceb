//! Validation of a raw [`Config`] into a [`ValidConfig`], and its display in
//! smb.conf syntax.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use crate::error::{ConfigError, ErrorKind, Location, Warning};
use crate::parse::{has_substitution, normalize_key, Config, Param, Section};
use crate::types::{parse_bool, Dialect, Encrypt, Interface, MapToGuest, PassdbBackend, Signing};
use crate::DEFAULT_STATE_DIR;

/// A checked configuration, with every default filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidConfig {
    /// Server-wide settings from `[global]`.
    pub global: GlobalConfig,
    /// The disk shares, in the order they first appear.
    pub shares: Vec<ShareConfig>,
}

/// Server-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalConfig {
    /// `smb ports`: TCP ports to listen on (default 445).
    pub smb_ports: Vec<u16>,
    /// `interfaces`: addresses or interface names (default: none given, i.e. all).
    pub interfaces: Vec<Interface>,
    /// `bind interfaces only`: listen only on `interfaces` (default no).
    pub bind_interfaces_only: bool,
    /// `state directory` (default [`DEFAULT_STATE_DIR`]).
    pub state_directory: PathBuf,
    /// `private dir` (default: the state directory).
    pub private_dir: PathBuf,
    /// `server min protocol` (default SMB2_02).
    pub server_min_protocol: Dialect,
    /// `server max protocol` (default SMB3_11).
    pub server_max_protocol: Dialect,
    /// `server signing` (default auto).
    pub server_signing: Signing,
    /// `server smb encrypt` (default if_required); also the default of each
    /// share's `smb encrypt`.
    pub server_smb_encrypt: Encrypt,
    /// `map to guest` (default never).
    pub map_to_guest: MapToGuest,
    /// `guest account` (default `nobody`).
    pub guest_account: String,
    /// `log level`, 0–10 (default 0).
    pub log_level: u8,
    /// `netbios name`: upper case, at most 15 characters (default: the host
    /// name up to its first dot).
    pub netbios_name: String,
    /// `workgroup`: upper case, at most 15 characters (default `WORKGROUP`).
    pub workgroup: String,
    /// `server string` (default `smbed`).
    pub server_string: String,
    /// `passdb backend`, path resolved (default `smbpasswd:<smb passwd file>`).
    pub passdb_backend: PassdbBackend,
    /// `smb passwd file` (default `<private dir>/smbpasswd`).
    pub smb_passwd_file: PathBuf,
    /// `board`: a built-in board profile name or the path of a `board.toml` (default none:
    /// detect the board, see [`crate::board`]).
    pub board: Option<String>,
    /// `max connections`: server-wide limit on simultaneous client connections,
    /// 0 = unlimited (default 0). Unlike Samba, where it is a per-share limit.
    pub max_connections: u32,
}

/// A disk share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareConfig {
    /// The share name as first written.
    pub name: String,
    /// `path` (also `directory`): the directory shared.
    pub path: PathBuf,
    /// `comment` (default empty).
    pub comment: String,
    /// `read only` (default yes); `writeable`/`writable`/`write ok` are its inverse.
    pub read_only: bool,
    /// `guest ok` / `public` (default no).
    pub guest_ok: bool,
    /// `valid users`: if not empty, only these users (and members of `@group`s,
    /// kept as written) may connect.
    pub valid_users: Vec<String>,
    /// `invalid users`: these users (and `@group`s) may never connect.
    pub invalid_users: Vec<String>,
    /// `browseable` / `browsable` (default yes).
    pub browseable: bool,
    /// `available` (default yes): if no, the share is refused.
    pub available: bool,
    /// `smb encrypt` (default: the global `server smb encrypt`).
    pub smb_encrypt: Encrypt,
}

impl ValidConfig {
    /// A share by name, compared case-insensitively.
    pub fn share(&self, name: &str) -> Option<&ShareConfig> {
        let lower = name.to_lowercase();
        self.shares.iter().find(|s| s.name.to_lowercase() == lower)
    }
}

impl ShareConfig {
    /// A share over `path` with Samba's per-share defaults.
    pub fn new(name: &str, path: PathBuf, smb_encrypt: Encrypt) -> Self {
        ShareConfig {
            name: name.to_owned(),
            path,
            comment: String::new(),
            read_only: true,
            guest_ok: false,
            valid_users: Vec::new(),
            invalid_users: Vec::new(),
            browseable: true,
            available: true,
            smb_encrypt,
        }
    }
}

impl GlobalConfig {
    /// The defaults used when a parameter is not in the file.
    pub fn defaults() -> Self {
        let state = PathBuf::from(DEFAULT_STATE_DIR);
        let smbpasswd = state.join("smbpasswd");
        GlobalConfig {
            smb_ports: vec![445],
            interfaces: Vec::new(),
            bind_interfaces_only: false,
            private_dir: state.clone(),
            state_directory: state,
            server_min_protocol: Dialect::Smb2_02,
            server_max_protocol: Dialect::Smb3_11,
            server_signing: Signing::Auto,
            server_smb_encrypt: Encrypt::IfRequired,
            map_to_guest: MapToGuest::Never,
            guest_account: "nobody".to_owned(),
            log_level: 0,
            netbios_name: default_netbios_name(),
            workgroup: "WORKGROUP".to_owned(),
            server_string: "smbed".to_owned(),
            passdb_backend: PassdbBackend::SmbPasswd(smbpasswd.clone()),
            smb_passwd_file: smbpasswd,
            board: None,
            max_connections: 0,
        }
    }
}

/// The built-in configuration used when smbed runs without a config file:
/// listens on 127.0.0.1 port 4455 only, one writable share `share` over
/// `<base>/share`, state in `<base>/state`, signing auto, `map to guest = never`,
/// accounts in `<base>/state/smbpasswd`.
pub fn default_config(base_dir: &Path) -> ValidConfig {
    let state = base_dir.join("state");
    let smbpasswd = state.join("smbpasswd");
    let global = GlobalConfig {
        smb_ports: vec![4455],
        interfaces: vec![Interface::Ip {
            addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            prefix: None,
        }],
        bind_interfaces_only: true,
        state_directory: state.clone(),
        private_dir: state,
        passdb_backend: PassdbBackend::SmbPasswd(smbpasswd.clone()),
        smb_passwd_file: smbpasswd,
        ..GlobalConfig::defaults()
    };
    let mut share = ShareConfig::new("share", base_dir.join("share"), global.server_smb_encrypt);
    share.read_only = false;
    ValidConfig {
        global,
        shares: vec![share],
    }
}

/// The NetBIOS name derived from the host name: up to the first dot, upper
/// case, characters NetBIOS does not allow dropped, at most 15 characters;
/// `SMBED` if nothing is left.
pub fn default_netbios_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let name: String = host
        .trim()
        .split('.')
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .map(|c| c.to_ascii_uppercase())
        .take(15)
        .collect();
    if name.is_empty() {
        "SMBED".to_owned()
    } else {
        name
    }
}

// ---------------------------------------------------------------------------
// Parameter table

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum G {
    SmbPorts,
    Interfaces,
    BindInterfacesOnly,
    StateDirectory,
    PrivateDir,
    ServerMinProtocol,
    ServerMaxProtocol,
    ServerSigning,
    MapToGuest,
    GuestAccount,
    LogLevel,
    NetbiosName,
    Workgroup,
    ServerString,
    PassdbBackend,
    SmbPasswdFile,
    Board,
    MaxConnections,
}

/// Share parameters; in `[global]` they set the default for every share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum S {
    Path,
    Comment,
    ReadOnly,
    Writeable,
    GuestOk,
    ValidUsers,
    InvalidUsers,
    Browseable,
    Available,
    SmbEncrypt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Id {
    G(G),
    S(S),
}

/// Every accepted spelling (before normalisation) and what it sets. The first
/// spelling of each parameter is its canonical name, used in messages.
const PARAMS: &[(&str, Id)] = &[
    ("smb ports", Id::G(G::SmbPorts)),
    ("interfaces", Id::G(G::Interfaces)),
    ("bind interfaces only", Id::G(G::BindInterfacesOnly)),
    ("state directory", Id::G(G::StateDirectory)),
    ("private dir", Id::G(G::PrivateDir)),
    ("private directory", Id::G(G::PrivateDir)),
    ("server min protocol", Id::G(G::ServerMinProtocol)),
    ("min protocol", Id::G(G::ServerMinProtocol)),
    ("server max protocol", Id::G(G::ServerMaxProtocol)),
    ("max protocol", Id::G(G::ServerMaxProtocol)),
    ("protocol", Id::G(G::ServerMaxProtocol)),
    ("server signing", Id::G(G::ServerSigning)),
    ("map to guest", Id::G(G::MapToGuest)),
    ("guest account", Id::G(G::GuestAccount)),
    ("log level", Id::G(G::LogLevel)),
    ("debug level", Id::G(G::LogLevel)),
    ("netbios name", Id::G(G::NetbiosName)),
    ("workgroup", Id::G(G::Workgroup)),
    ("server string", Id::G(G::ServerString)),
    ("passdb backend", Id::G(G::PassdbBackend)),
    ("smb passwd file", Id::G(G::SmbPasswdFile)),
    ("board", Id::G(G::Board)),
    ("max connections", Id::G(G::MaxConnections)),
    ("path", Id::S(S::Path)),
    ("directory", Id::S(S::Path)),
    ("comment", Id::S(S::Comment)),
    ("read only", Id::S(S::ReadOnly)),
    ("writeable", Id::S(S::Writeable)),
    ("writable", Id::S(S::Writeable)),
    ("write ok", Id::S(S::Writeable)),
    ("guest ok", Id::S(S::GuestOk)),
    ("public", Id::S(S::GuestOk)),
    ("valid users", Id::S(S::ValidUsers)),
    ("invalid users", Id::S(S::InvalidUsers)),
    ("browseable", Id::S(S::Browseable)),
    ("browsable", Id::S(S::Browseable)),
    ("available", Id::S(S::Available)),
    ("smb encrypt", Id::S(S::SmbEncrypt)),
    ("server smb encrypt", Id::S(S::SmbEncrypt)),
];

/// Samba parameters that restrict access. smbed ignores them like any other
/// unsupported parameter, but says loudly that access is not restricted.
const ACCESS_PARAMS: &[&str] = &[
    "hosts allow",
    "allow hosts",
    "hosts deny",
    "deny hosts",
    "read list",
    "guest only",
    "only guest",
    "restrict anonymous",
    "admin users",
    "force user",
    "force group",
    "create mask",
    "directory mask",
    "force create mode",
    "force directory mode",
    "veto files",
    "hide files",
    "follow symlinks",
    "wide links",
];

fn lookup(key: &str) -> Option<(&'static str, Id)> {
    let (_, id) = PARAMS.iter().find(|(name, _)| normalize_key(name) == key)?;
    // Canonical name: the first spelling of that id.
    PARAMS.iter().find(|(_, i)| i == id).map(|&(n, i)| (n, i))
}

// ---------------------------------------------------------------------------
// Validation

/// Share settings collected from `[global]` (defaults) or from a share.
#[derive(Default, Clone)]
struct ShareParams {
    path: Option<PathBuf>,
    comment: Option<String>,
    read_only: Option<bool>,
    guest_ok: Option<bool>,
    valid_users: Option<Vec<String>>,
    invalid_users: Option<Vec<String>>,
    browseable: Option<bool>,
    available: Option<bool>,
    smb_encrypt: Option<Encrypt>,
}

impl ShareParams {
    fn overlay(&self, over: &ShareParams) -> ShareParams {
        ShareParams {
            path: over.path.clone().or_else(|| self.path.clone()),
            comment: over.comment.clone().or_else(|| self.comment.clone()),
            read_only: over.read_only.or(self.read_only),
            guest_ok: over.guest_ok.or(self.guest_ok),
            valid_users: over
                .valid_users
                .clone()
                .or_else(|| self.valid_users.clone()),
            invalid_users: over
                .invalid_users
                .clone()
                .or_else(|| self.invalid_users.clone()),
            browseable: over.browseable.or(self.browseable),
            available: over.available.or(self.available),
            smb_encrypt: over.smb_encrypt.or(self.smb_encrypt),
        }
    }
}

#[derive(Default)]
enum PassdbSetting {
    #[default]
    Unset,
    SmbPasswd(Option<PathBuf>),
    TdbSam(Option<PathBuf>),
}

/// Global settings as found, before defaults that depend on each other.
#[derive(Default)]
struct GlobalParams {
    state_directory: Option<PathBuf>,
    private_dir: Option<PathBuf>,
    smb_passwd_file: Option<PathBuf>,
    passdb: PassdbSetting,
    min_loc: Option<Location>,
    max_loc: Option<Location>,
    min_was_last: bool,
}

struct Validator {
    warnings: Vec<Warning>,
    subst_warned: bool,
}

pub(crate) fn validate(config: &Config) -> Result<(ValidConfig, Vec<Warning>), ConfigError> {
    let mut v = Validator {
        warnings: Vec::new(),
        subst_warned: false,
    };
    let mut g = GlobalConfig::defaults();
    let mut gp = GlobalParams::default();
    let mut share_defaults = ShareParams::default();

    let is_global = |s: &&Section| s.name.eq_ignore_ascii_case("global");
    let global_params: Vec<&Param> = config
        .sections
        .iter()
        .filter(is_global)
        .flat_map(|s| &s.params)
        .collect();
    for &p in &global_params {
        v.check_subst(p);
        let Some((canon, id)) = lookup(&p.key) else {
            v.unknown(p, "[global]");
            continue;
        };
        match id {
            Id::G(id) => v.global_param(canon, id, p, &mut g, &mut gp)?,
            Id::S(id) => {
                v.share_param(canon, id, p, &mut share_defaults)?;
                if let (S::SmbEncrypt, Some(e)) = (id, share_defaults.smb_encrypt) {
                    g.server_smb_encrypt = e;
                }
            }
        }
    }

    // Defaults that depend on other parameters.
    if let Some(state) = gp.state_directory.take() {
        g.state_directory = state;
    }
    g.private_dir = gp
        .private_dir
        .take()
        .unwrap_or_else(|| g.state_directory.clone());
    g.smb_passwd_file = gp
        .smb_passwd_file
        .take()
        .unwrap_or_else(|| g.private_dir.join("smbpasswd"));
    g.passdb_backend = match std::mem::take(&mut gp.passdb) {
        PassdbSetting::Unset | PassdbSetting::SmbPasswd(None) => {
            PassdbBackend::SmbPasswd(g.smb_passwd_file.clone())
        }
        PassdbSetting::SmbPasswd(Some(p)) => PassdbBackend::SmbPasswd(p),
        PassdbSetting::TdbSam(None) => PassdbBackend::TdbSam(g.private_dir.join("passdb.tdb")),
        PassdbSetting::TdbSam(Some(p)) => PassdbBackend::TdbSam(p),
    };
    if g.server_min_protocol > g.server_max_protocol {
        let loc = if gp.min_was_last {
            gp.min_loc.as_ref()
        } else {
            gp.max_loc.as_ref()
        };
        let kind = ErrorKind::ProtocolRange {
            min: g.server_min_protocol,
            max: g.server_max_protocol,
        };
        return Err(match loc {
            Some(l) => ConfigError::at(l, kind),
            None => ConfigError::general(kind),
        });
    }
    if g.server_signing == Signing::Disabled {
        let loc = global_params
            .iter()
            .rev()
            .find(|p| lookup(&p.key).is_some_and(|(_, id)| id == Id::G(G::ServerSigning)))
            .map(|p| p.location.clone());
        v.warnings.push(Warning {
            location: loc,
            message: "server signing = disabled: SMB2/3 clients that require signing are \
                      still signed (signing cannot be turned off in SMB2/3)"
                .to_owned(),
        });
    }

    let mut shares = Vec::new();
    for section in config.sections.iter().filter(|s| !is_global(s)) {
        if let Some(share) = v.share(section, &share_defaults, &g)? {
            // A parsed Config has merged duplicates; a hand-built one may not have.
            if shares
                .iter()
                .any(|s: &ShareConfig| s.name.to_lowercase() == share.name.to_lowercase())
            {
                let loc = section
                    .location
                    .clone()
                    .unwrap_or_else(|| Location::new("", 0));
                return Err(ConfigError::at(
                    &loc,
                    ErrorKind::InvalidShareName {
                        share: share.name,
                        reason: "defined twice".to_owned(),
                    },
                ));
            }
            shares.push(share);
        }
    }
    if shares.is_empty() {
        v.warnings.push(Warning::general("no shares are defined"));
    }
    Ok((ValidConfig { global: g, shares }, v.warnings))
}

impl Validator {
    fn check_subst(&mut self, p: &Param) {
        if !self.subst_warned && has_substitution(&p.value) {
            self.subst_warned = true;
            self.warnings.push(Warning::at(
                &p.location,
                format!(
                    "'{}' uses a '%' substitution; smbed does not expand substitutions \
                     and uses such values literally (further ones are not reported)",
                    p.name
                ),
            ));
        }
    }

    fn unknown(&mut self, p: &Param, section: &str) {
        let key = &p.key;
        let message = if let Some(name) = ACCESS_PARAMS.iter().find(|n| normalize_key(n) == *key) {
            format!(
                "'{name}' in {section} is not supported by smbed and is ignored: \
                 access is NOT restricted by it"
            )
        } else if p.name.contains(':') {
            format!("parametric option '{}' in {section} ignored", p.name)
        } else {
            format!("unknown parameter '{}' in {section} ignored", p.name)
        };
        self.warnings.push(Warning::at(&p.location, message));
    }

    fn relative_path_warning(&mut self, canon: &str, path: &Path, loc: &Location) {
        if path.is_relative() {
            self.warnings.push(Warning::at(
                loc,
                format!(
                    "'{canon}' is a relative path ('{}'); it is taken relative to the \
                     server's working directory",
                    path.display()
                ),
            ));
        }
    }

    fn path_value(&mut self, canon: &str, p: &Param) -> Result<PathBuf, ConfigError> {
        if p.value.is_empty() {
            return Err(ConfigError::invalid(
                &p.location,
                canon,
                &p.value,
                "expected a path",
            ));
        }
        let path = PathBuf::from(&p.value);
        self.relative_path_warning(canon, &path, &p.location);
        Ok(path)
    }

    fn global_param(
        &mut self,
        canon: &str,
        id: G,
        p: &Param,
        g: &mut GlobalConfig,
        gp: &mut GlobalParams,
    ) -> Result<(), ConfigError> {
        let value = p.value.as_str();
        let loc = &p.location;
        let invalid = |reason: &str| ConfigError::invalid(loc, canon, value, reason);
        match id {
            G::SmbPorts => {
                let mut ports = Vec::new();
                for item in split_list(value) {
                    let port = item
                        .parse::<u16>()
                        .ok()
                        .filter(|&n| n != 0)
                        .ok_or_else(|| invalid("expected port numbers from 1 to 65535"))?;
                    if !ports.contains(&port) {
                        ports.push(port);
                    }
                }
                if ports.is_empty() {
                    return Err(invalid("expected at least one port number"));
                }
                g.smb_ports = ports;
            }
            G::Interfaces => {
                let mut list = Vec::new();
                for item in split_list(value) {
                    let item = match item.split_once(';') {
                        Some((name, opts)) => {
                            self.warnings.push(Warning::at(
                                loc,
                                format!("interface options ';{opts}' are not supported; ignored"),
                            ));
                            name.to_owned()
                        }
                        None => item,
                    };
                    let iface = Interface::parse(&item)
                        .map_err(|reason| ConfigError::invalid(loc, canon, value, reason))?;
                    if !list.contains(&iface) {
                        list.push(iface);
                    }
                }
                g.interfaces = list;
            }
            G::BindInterfacesOnly => g.bind_interfaces_only = bool_value(canon, p)?,
            G::StateDirectory => gp.state_directory = Some(self.path_value(canon, p)?),
            G::PrivateDir => gp.private_dir = Some(self.path_value(canon, p)?),
            G::SmbPasswdFile => gp.smb_passwd_file = Some(self.path_value(canon, p)?),
            G::ServerMinProtocol => {
                g.server_min_protocol = Dialect::parse(value, false).map_err(invalid)?;
                gp.min_loc = Some(loc.clone());
                gp.min_was_last = true;
            }
            G::ServerMaxProtocol => {
                g.server_max_protocol = Dialect::parse(value, true).map_err(invalid)?;
                gp.max_loc = Some(loc.clone());
                gp.min_was_last = false;
            }
            G::ServerSigning => {
                g.server_signing = Signing::parse(value)
                    .ok_or_else(|| invalid("expected auto, mandatory or disabled"))?;
            }
            G::MapToGuest => {
                g.map_to_guest = MapToGuest::parse(value)
                    .ok_or_else(|| invalid("expected never, bad user or bad password"))?;
            }
            G::GuestAccount => {
                if value.is_empty() || value.contains(':') || value.chars().any(char::is_control) {
                    return Err(invalid("expected a user name"));
                }
                g.guest_account = value.to_owned();
            }
            G::LogLevel => {
                let mut words = value.split_whitespace();
                let level = words
                    .next()
                    .and_then(|w| w.parse::<u8>().ok())
                    .filter(|&n| n <= 10)
                    .ok_or_else(|| invalid("expected a number from 0 to 10"))?;
                let rest: Vec<&str> = words.collect();
                if !rest.is_empty() {
                    self.warnings.push(Warning::at(
                        loc,
                        format!(
                            "per-class log levels '{}' are not supported; using log level {level}",
                            rest.join(" ")
                        ),
                    ));
                }
                g.log_level = level;
            }
            G::NetbiosName => g.netbios_name = netbios_value(canon, p)?,
            G::Workgroup => g.workgroup = netbios_value(canon, p)?,
            G::ServerString => g.server_string = value.to_owned(),
            G::PassdbBackend => {
                let (kind, path) = match value.split_once(':') {
                    Some((k, path)) => (k.trim(), Some(path.trim())),
                    None => (value, None),
                };
                let path = path.filter(|s| !s.is_empty()).map(PathBuf::from);
                if let Some(path) = &path {
                    self.relative_path_warning(canon, path, loc);
                }
                gp.passdb = match kind.to_ascii_lowercase().as_str() {
                    "smbpasswd" => PassdbSetting::SmbPasswd(path),
                    "tdbsam" => PassdbSetting::TdbSam(path),
                    _ => return Err(invalid("expected smbpasswd[:PATH] or tdbsam[:PATH]")),
                };
            }
            G::Board => {
                g.board = if value.is_empty() || value.eq_ignore_ascii_case("auto") {
                    None
                } else if value.contains('/') {
                    self.relative_path_warning(canon, Path::new(value), loc);
                    Some(value.to_owned())
                } else if crate::board::builtin_names().any(|n| n == value) {
                    Some(value.to_owned())
                } else {
                    let known: Vec<&str> = crate::board::builtin_names().collect();
                    return Err(invalid(&format!(
                        "expected auto, a board profile ({}) or the path of a board.toml",
                        known.join(", ")
                    )));
                };
            }
            G::MaxConnections => {
                g.max_connections = value
                    .parse::<u32>()
                    .map_err(|_| invalid("expected a number (0 = unlimited)"))?;
            }
        }
        Ok(())
    }

    fn share_param(
        &mut self,
        canon: &str,
        id: S,
        p: &Param,
        s: &mut ShareParams,
    ) -> Result<(), ConfigError> {
        let value = p.value.as_str();
        match id {
            S::Path => s.path = Some(self.path_value(canon, p)?),
            S::Comment => s.comment = Some(value.to_owned()),
            S::ReadOnly => s.read_only = Some(bool_value(canon, p)?),
            S::Writeable => s.read_only = Some(!bool_value(canon, p)?),
            S::GuestOk => s.guest_ok = Some(bool_value(canon, p)?),
            S::Browseable => s.browseable = Some(bool_value(canon, p)?),
            S::Available => s.available = Some(bool_value(canon, p)?),
            S::ValidUsers => s.valid_users = Some(user_list(canon, p)?),
            S::InvalidUsers => s.invalid_users = Some(user_list(canon, p)?),
            S::SmbEncrypt => {
                s.smb_encrypt = Some(Encrypt::parse(value).ok_or_else(|| {
                    ConfigError::invalid(
                        &p.location,
                        canon,
                        value,
                        "expected off, if_required, desired or required",
                    )
                })?);
            }
        }
        Ok(())
    }

    fn share(
        &mut self,
        section: &Section,
        defaults: &ShareParams,
        g: &GlobalConfig,
    ) -> Result<Option<ShareConfig>, ConfigError> {
        let name = section.name.as_str();
        let header = section
            .location
            .clone()
            .unwrap_or_else(|| Location::new("", 0));
        let lower = name.to_lowercase();
        if lower == "homes" || lower == "printers" {
            self.warnings.push(Warning::at(
                &header,
                format!("[{name}] is not supported by smbed; section skipped"),
            ));
            return Ok(None);
        }
        check_share_name(name, &header)?;
        let section_label = format!("[{name}]");
        let mut own = ShareParams::default();
        for p in &section.params {
            self.check_subst(p);
            let Some((canon, id)) = lookup(&p.key) else {
                self.unknown(p, &section_label);
                continue;
            };
            let Id::S(id) = id else {
                self.warnings.push(Warning::at(
                    &p.location,
                    format!("global parameter '{canon}' in share section {section_label} ignored"),
                ));
                continue;
            };
            self.share_param(canon, id, p, &mut own)?;
        }
        let sp = defaults.overlay(&own);
        let Some(path) = sp.path else {
            return Err(ConfigError::at(
                &header,
                ErrorKind::MissingPath {
                    share: name.to_owned(),
                },
            ));
        };
        let smb_encrypt = sp.smb_encrypt.unwrap_or(g.server_smb_encrypt);
        if smb_encrypt == Encrypt::Required && g.server_smb_encrypt == Encrypt::Off {
            self.warnings.push(Warning::at(
                &header,
                format!(
                    "share {section_label} requires encryption but server smb encrypt = off; \
                     the share will be inaccessible"
                ),
            ));
        }
        let base = ShareConfig::new(name, path, smb_encrypt);
        Ok(Some(ShareConfig {
            comment: sp.comment.unwrap_or(base.comment.clone()),
            read_only: sp.read_only.unwrap_or(base.read_only),
            guest_ok: sp.guest_ok.unwrap_or(base.guest_ok),
            valid_users: sp.valid_users.unwrap_or_default(),
            invalid_users: sp.invalid_users.unwrap_or_default(),
            browseable: sp.browseable.unwrap_or(base.browseable),
            available: sp.available.unwrap_or(base.available),
            ..base
        }))
    }
}

fn bool_value(canon: &str, p: &Param) -> Result<bool, ConfigError> {
    parse_bool(&p.value)
        .ok_or_else(|| ConfigError::invalid(&p.location, canon, &p.value, "expected yes or no"))
}

fn netbios_value(canon: &str, p: &Param) -> Result<String, ConfigError> {
    let v = p.value.as_str();
    let err = |reason: &str| ConfigError::invalid(&p.location, canon, v, reason);
    if v.is_empty() {
        return Err(err("expected a name"));
    }
    if v.chars().count() > 15 {
        return Err(err("expected at most 15 characters"));
    }
    if v.chars()
        .any(|c| c.is_control() || c.is_whitespace() || "\\/:*?\"<>|.".contains(c))
    {
        return Err(err(
            "a NetBIOS name cannot contain spaces or any of \\ / : * ? \" < > | .",
        ));
    }
    Ok(v.to_uppercase())
}

fn user_list(canon: &str, p: &Param) -> Result<Vec<String>, ConfigError> {
    let list = split_list(&p.value);
    for item in &list {
        let bare = item.trim_start_matches(['@', '+', '&']);
        if bare.is_empty() || bare.chars().any(char::is_control) || bare.contains(':') {
            return Err(ConfigError::invalid(
                &p.location,
                canon,
                &p.value,
                format!("'{item}' is not a user or @group name"),
            ));
        }
    }
    Ok(list)
}

/// Splits a Samba list: items separated by whitespace, commas or semicolons;
/// double quotes group an item that contains separators.
pub(crate) fn split_list(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut had_quotes = false;
    for c in value.chars() {
        if c == '"' {
            quoted = !quoted;
            had_quotes = true;
        } else if !quoted && (c.is_whitespace() || c == ',' || c == ';') {
            if !cur.is_empty() || had_quotes {
                out.push(std::mem::take(&mut cur));
            }
            had_quotes = false;
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out.retain(|s| !s.is_empty());
    out
}

fn check_share_name(name: &str, loc: &Location) -> Result<(), ConfigError> {
    let invalid = |reason: &str| {
        ConfigError::at(
            loc,
            ErrorKind::InvalidShareName {
                share: name.to_owned(),
                reason: reason.to_owned(),
            },
        )
    };
    if name.eq_ignore_ascii_case("ipc$") {
        return Err(ConfigError::at(
            loc,
            ErrorKind::ReservedShareName {
                share: name.to_owned(),
            },
        ));
    }
    if name.chars().count() > 80 {
        return Err(invalid("longer than 80 characters"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_control() || "\\/:*?\"<>|".contains(*c))
    {
        return Err(invalid(&format!(
            "contains {c:?}; share names cannot contain control characters or any of \\ / : * ? \" < > |"
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Display

fn yes_no(b: bool) -> &'static str {
    if b {
        "Yes"
    } else {
        "No"
    }
}

fn list(items: &[String]) -> String {
    items
        .iter()
        .map(|s| {
            if s.chars().any(|c| c.is_whitespace() || c == ',' || c == ';') {
                format!("\"{s}\"")
            } else {
                s.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for ValidConfig {
    /// The effective configuration in smb.conf syntax, every parameter smbed
    /// honours spelled out (what `smbed testparm` prints). Loading this text
    /// again gives the same configuration.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = &self.global;
        writeln!(f, "# Effective smbed configuration")?;
        writeln!(f, "[global]")?;
        writeln!(f, "\tnetbios name = {}", g.netbios_name)?;
        writeln!(f, "\tworkgroup = {}", g.workgroup)?;
        writeln!(f, "\tserver string = {}", g.server_string)?;
        let ports: Vec<String> = g.smb_ports.iter().map(u16::to_string).collect();
        writeln!(f, "\tsmb ports = {}", ports.join(" "))?;
        let ifaces: Vec<String> = g.interfaces.iter().map(Interface::to_string).collect();
        writeln!(f, "\tinterfaces = {}", ifaces.join(" "))?;
        writeln!(
            f,
            "\tbind interfaces only = {}",
            yes_no(g.bind_interfaces_only)
        )?;
        writeln!(f, "\tstate directory = {}", g.state_directory.display())?;
        writeln!(f, "\tprivate dir = {}", g.private_dir.display())?;
        writeln!(f, "\tserver min protocol = {}", g.server_min_protocol)?;
        writeln!(f, "\tserver max protocol = {}", g.server_max_protocol)?;
        writeln!(f, "\tserver signing = {}", g.server_signing)?;
        writeln!(f, "\tserver smb encrypt = {}", g.server_smb_encrypt)?;
        writeln!(f, "\tmap to guest = {}", g.map_to_guest)?;
        writeln!(f, "\tguest account = {}", g.guest_account)?;
        writeln!(f, "\tpassdb backend = {}", g.passdb_backend)?;
        writeln!(f, "\tsmb passwd file = {}", g.smb_passwd_file.display())?;
        writeln!(f, "\tlog level = {}", g.log_level)?;
        writeln!(f, "\tmax connections = {}", g.max_connections)?;
        if let Some(board) = &g.board {
            writeln!(f, "\tboard = {board}")?;
        }
        for s in &self.shares {
            writeln!(f)?;
            writeln!(f, "[{}]", s.name)?;
            writeln!(f, "\tpath = {}", s.path.display())?;
            if !s.comment.is_empty() {
                writeln!(f, "\tcomment = {}", s.comment)?;
            }
            writeln!(f, "\tread only = {}", yes_no(s.read_only))?;
            writeln!(f, "\tguest ok = {}", yes_no(s.guest_ok))?;
            writeln!(f, "\tbrowseable = {}", yes_no(s.browseable))?;
            writeln!(f, "\tavailable = {}", yes_no(s.available))?;
            writeln!(f, "\tsmb encrypt = {}", s.smb_encrypt)?;
            if !s.valid_users.is_empty() {
                writeln!(f, "\tvalid users = {}", list(&s.valid_users))?;
            }
            if !s.invalid_users.is_empty() {
                writeln!(f, "\tinvalid users = {}", list(&s.invalid_users))?;
            }
        }
        Ok(())
    }
}
