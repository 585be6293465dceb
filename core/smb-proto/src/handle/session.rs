//! SESSION_SETUP ([MS-SMB2] 3.3.5.5) with SPNEGO/NTLMSSP, and TREE_CONNECT (3.3.5.7).

use core::cell::Cell;

use smb_auth::ntlmssp::{Credentials, NtlmServer, ServerIdentity};
use smb_auth::spnego::{self, NegState, Token};
use smb_auth::AuthError;
use smb_crypto::{derive_keys, PreauthHash, Sealer, Signer};
use smb_wire::create::access;
use smb_wire::ids::dialect;
use smb_wire::negotiate::security_mode;
use smb_wire::session_setup::{self, session_flags};
use smb_wire::tree_connect::{self, share_type};
use smb_wire::utf16::Utf16Le;
use smb_wire::NtStatus;

use crate::policy::{EncryptPolicy, Policy, Principal};
use crate::server::{Chain, ConnId, HResult, Reply, Server, SigningPolicy};
use crate::state::{Identity, Session, SessionState, Tree};
use crate::table::Handle;
use crate::vfs::Vfs;

/// Unauthenticated sessions one connection may have at once.
pub const MAX_HALF_OPEN_PER_CONN: usize = 2;

/// Longest SPNEGO MechTypeList kept for the mechListMIC.
pub const MECH_TYPES_CAP: usize = 96;

/// Adapts the host policy to the NTLM credential lookup, remembering whether the user existed
/// (to tell "bad user" from "bad password" for `map to guest`).
struct Lookup<'a, P: Policy> {
    policy: &'a P,
    found: Cell<bool>,
}

impl<P: Policy> Credentials for Lookup<'_, P> {
    fn nt_hash(&self, user: &str, _domain: &str) -> Option<[u8; 16]> {
        let h = self.policy.nt_hash(user);
        self.found.set(self.found.get() || h.is_some());
        h
    }
}

/// Per-session SPNEGO memory between rounds.
#[derive(Debug, Clone, Copy)]
pub struct SpnegoState {
    pub mech_types: [u8; MECH_TYPES_CAP],
    pub mech_types_len: usize,
    /// The client used SPNEGO (not raw NTLMSSP).
    pub wrapped: bool,
}

impl Default for SpnegoState {
    fn default() -> Self {
        Self {
            mech_types: [0; MECH_TYPES_CAP],
            mech_types_len: 0,
            wrapped: true,
        }
    }
}

impl<V: Vfs, P: Policy> Server<'_, V, P> {
    pub(crate) fn session_setup(
        &mut self,
        conn: ConnId,
        msg: &[u8],
        out: &mut [u8],
        chain: &mut Chain,
    ) -> HResult {
        let req = session_setup::Request::parse(msg).map_err(|e| e.status())?;
        if req.flags & session_setup::FLAG_BINDING != 0 {
            // Multichannel binding is not offered (no MULTI_CHANNEL capability).
            return Err(NtStatus::REQUEST_NOT_ACCEPTED);
        }
        let (dialect, conn_preauth) = {
            let c = self.conns.get(conn.0).ok_or(NtStatus::INTERNAL_ERROR)?;
            (c.dialect, c.preauth)
        };
        let sid_in = smb_wire::Header::new_unchecked(msg).session_id();
        let sh = if sid_in == 0 {
            // One connection may not hold the server's session table hostage with
            // unauthenticated sessions, nor more than a fair share of it.
            let (half_open, mine) = self.sessions.iter().filter(|(_, s)| s.conn == conn.0).fold(
                (0usize, 0usize),
                |(h, m), (_, s)| {
                    (
                        h + usize::from(matches!(s.state, SessionState::InProgress)),
                        m + 1,
                    )
                },
            );
            if half_open >= MAX_HALF_OPEN_PER_CONN || mine >= (self.sessions.capacity() / 4).max(4)
            {
                return Err(NtStatus::INSUFFICIENT_RESOURCES);
            }
            let auth = self
                .auths
                .insert(NtlmServer::new())
                .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
            let s = Session {
                id: 0,
                conn: conn.0,
                state: SessionState::InProgress,
                identity: Identity::None,
                user: heapless::String::new(),
                domain: heapless::String::new(),
                auth: Some(auth),
                preauth: conn_preauth,
                signer: None,
                signing_required: false,
                encrypt_data: false,
                encryptor: None,
                nonces: smb_crypto::NonceCounter::new([0; 4]),
                decryptor: None,
                application_key: [0; 16],
                session_key: [0; 16],
                spnego: SpnegoState::default(),
                sid: heapless::Vec::new(),
            };
            let Ok(h) = self.sessions.insert(s) else {
                self.auths.remove(auth);
                return Err(NtStatus::INSUFFICIENT_RESOURCES);
            };
            let id = h.to_u64();
            if let Some(s) = self.sessions.get_mut(h) {
                s.id = id;
            }
            h
        } else {
            let h = self
                .session_handle(conn.0, sid_in)
                .ok_or(NtStatus::USER_SESSION_DELETED)?;
            let s = self
                .sessions
                .get_mut(h)
                .ok_or(NtStatus::USER_SESSION_DELETED)?;
            if matches!(s.state, SessionState::Valid) {
                // Re-authentication: run a fresh exchange; keys stay as they are
                // ([MS-SMB2] 3.3.5.5.3).
                let fresh = self
                    .auths
                    .insert(NtlmServer::new())
                    .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
                if let Some(old) = s.auth.replace(fresh) {
                    self.auths.remove(old);
                }
                s.state = SessionState::InProgress;
                s.preauth = conn_preauth;
            }
            h
        };
        chain.session_id = self.sessions.get(sh).map(|s| s.id).unwrap_or(0);
        if dialect == dialect::SMB3_11 {
            if let Some(s) = self.sessions.get_mut(sh) {
                s.preauth.update(msg);
            }
        }
        let result = self.run_auth(sh, req.security_buffer, req.security_mode, dialect, out);
        if !matches!(&result, Ok(r) if r.status == NtStatus::MORE_PROCESSING_REQUIRED) {
            // The exchange is over, one way or the other: its NTLM state goes.
            self.end_auth(sh);
        }
        match result {
            Ok(r) => {
                if r.status == NtStatus::SUCCESS && req.previous_session_id != 0 {
                    self.expire_previous_session(sh, req.previous_session_id);
                }
                Ok(r)
            }
            Err(st) => {
                // A failed exchange ends the session ([MS-SMB2] 3.3.5.5.3).
                let had_keys = self
                    .sessions
                    .get(sh)
                    .map(|s| s.signer.is_some())
                    .unwrap_or(false);
                if !had_keys {
                    self.sessions.remove(sh);
                }
                Err(st)
            }
        }
    }

    /// A client reconnecting after losing its connection names its old session in
    /// PreviousSessionId: once the new session is authenticated, the old one is removed (its
    /// trees and opens closed) if the same user owns it ([MS-SMB2] 3.3.5.5.3). Another
    /// user's session is left alone.
    fn expire_previous_session(&mut self, new: Handle, previous: u64) {
        let Some(old) = Handle::from_u64(previous) else {
            return;
        };
        let (Some(n), Some(o)) = (self.sessions.get(new), self.sessions.get(old)) else {
            return;
        };
        let same_user = old != new
            && o.id == previous
            && n.identity == Identity::User
            && o.identity == Identity::User
            && if n.sid.is_empty() || o.sid.is_empty() {
                n.user.eq_ignore_ascii_case(&o.user) && n.domain.eq_ignore_ascii_case(&o.domain)
            } else {
                n.sid == o.sid
            };
        if same_user {
            self.destroy_session(old);
        }
    }

    fn run_auth(
        &mut self,
        sh: Handle,
        token: &[u8],
        client_sec_mode: u8,
        dialect: u16,
        out: &mut [u8],
    ) -> HResult {
        let sec = &mut [0u8; 0][..];
        let _ = sec;
        let parsed = if token.is_empty() {
            return Err(NtStatus::INVALID_PARAMETER);
        } else {
            spnego::parse(token).map_err(|_| NtStatus::INVALID_PARAMETER)?
        };
        let buf_off = session_setup::RESPONSE_BUFFER_OFFSET;
        let mut ntlm_out = [0u8; 1024];
        let cfg = self.cfg;
        let id = ServerIdentity {
            netbios_name: cfg.netbios_name,
            netbios_domain: cfg.netbios_domain,
            dns_name: cfg.dns_name,
            dns_domain: cfg.dns_domain,
        };
        let (ntlm_msg, wrapped, mech_types, client_mic) = match parsed {
            Token::Init {
                mech_types,
                ntlm_offered,
                ntlm_first,
                mech_token,
            } => {
                if !ntlm_offered {
                    return Err(NtStatus::LOGON_FAILURE);
                }
                let s = self.sessions.get_mut(sh).ok_or(NtStatus::INTERNAL_ERROR)?;
                let n = mech_types.len().min(MECH_TYPES_CAP);
                if mech_types.len() > MECH_TYPES_CAP {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                s.spnego.mech_types[..n].copy_from_slice(mech_types);
                s.spnego.mech_types_len = n;
                s.spnego.wrapped = true;
                match (ntlm_first, mech_token) {
                    (true, Some(t)) => (t, true, Some(()), None),
                    _ => {
                        // Ask for NTLMSSP without a token.
                        let n = spnego::emit_resp(
                            &mut out[buf_off..],
                            NegState::AcceptIncomplete,
                            true,
                            None,
                            None,
                        )
                        .map_err(|_| NtStatus::INTERNAL_ERROR)?;
                        return self.more_processing(sh, dialect, out, n);
                    }
                }
            }
            Token::Resp {
                response_token,
                mech_list_mic,
                ..
            } => {
                let t = response_token.ok_or(NtStatus::INVALID_PARAMETER)?;
                (t, true, None, mech_list_mic)
            }
            Token::RawNtlmssp(t) => {
                if let Some(s) = self.sessions.get_mut(sh) {
                    s.spnego.wrapped = false;
                }
                (t, false, None, None)
            }
        };
        let _ = mech_types;
        // NTLMSSP message type at bytes 8..12.
        let mtype = ntlm_msg
            .get(8..12)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        match mtype {
            Some(1) => {
                let mut challenge = [0u8; 8];
                self.policy.fill_random(&mut challenge);
                let now = self.now;
                let s = self.sessions.get_mut(sh).ok_or(NtStatus::INTERNAL_ERROR)?;
                let ntlm = s
                    .auth
                    .and_then(|a| self.auths.get_mut(a))
                    .ok_or(NtStatus::INVALID_PARAMETER)?;
                let n = ntlm
                    .challenge(ntlm_msg, &id, challenge, now, &mut ntlm_out)
                    .map_err(auth_status)?;
                let len = if wrapped {
                    spnego::emit_resp(
                        &mut out[buf_off..],
                        NegState::AcceptIncomplete,
                        true,
                        Some(&ntlm_out[..n]),
                        None,
                    )
                    .map_err(|_| NtStatus::INTERNAL_ERROR)?
                } else {
                    out.get_mut(buf_off..buf_off + n)
                        .ok_or(NtStatus::INTERNAL_ERROR)?
                        .copy_from_slice(&ntlm_out[..n]);
                    n
                };
                self.more_processing(sh, dialect, out, len)
            }
            Some(3) => self.finish_auth(
                sh,
                ntlm_msg,
                wrapped,
                client_mic,
                client_sec_mode,
                dialect,
                out,
            ),
            _ => Err(NtStatus::INVALID_PARAMETER),
        }
    }

    fn more_processing(&mut self, sh: Handle, dialect: u16, out: &mut [u8], len: usize) -> HResult {
        let total = session_setup::emit_response(out, 0, len);
        let _ = (sh, dialect);
        Ok(Reply {
            status: NtStatus::MORE_PROCESSING_REQUIRED,
            len: total,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn finish_auth(
        &mut self,
        sh: Handle,
        ntlm_msg: &[u8],
        wrapped: bool,
        client_mic: Option<&[u8]>,
        client_sec_mode: u8,
        dialect: u16,
        out: &mut [u8],
    ) -> HResult {
        let lookup = Lookup {
            policy: &self.policy,
            found: Cell::new(false),
        };
        let s = self.sessions.get_mut(sh).ok_or(NtStatus::INTERNAL_ERROR)?;
        let ntlm = s
            .auth
            .and_then(|a| self.auths.get_mut(a))
            .ok_or(NtStatus::INVALID_PARAMETER)?;
        let res = ntlm.authenticate(ntlm_msg, &lookup);
        let guest_ok = matches!(
            self.cfg.map_to_guest,
            crate::policy::MapToGuest::BadPassword
        ) || (matches!(self.cfg.map_to_guest, crate::policy::MapToGuest::BadUser)
            && !lookup.found.get());
        let buf_off = session_setup::RESPONSE_BUFFER_OFFSET;
        let (identity, session_key, mic_needed) = match res {
            Ok(r) if r.anonymous => (Identity::Anonymous, [0u8; 16], false),
            Ok(r) => {
                s.user.clear();
                let _ = s
                    .user
                    .push_str(truncate(r.user.as_str(), crate::state::NAME_CAP));
                s.domain.clear();
                let _ = s
                    .domain
                    .push_str(truncate(r.domain.as_str(), crate::state::NAME_CAP));
                (Identity::User, r.session_key, r.mic_present)
            }
            Err(AuthError::LogonFailure) if guest_ok => (Identity::Guest, [0u8; 16], false),
            Err(e) => return Err(auth_status(e)),
        };
        // mechListMIC exchange ([MS-SPNG] 3.1.5.1).
        let mut server_mic = None;
        if wrapped && identity == Identity::User {
            let mt_len = s.spnego.mech_types_len;
            let mt = s.spnego.mech_types;
            if let Some(mic) = client_mic {
                if !ntlm.verify_mech_list_mic(&mt[..mt_len], mic) {
                    return Err(NtStatus::LOGON_FAILURE);
                }
            }
            // A client that sends no mechListMIC gets none (Samba refuses an unasked one).
            let _ = mic_needed;
            if client_mic.is_some() {
                server_mic = Some(ntlm.mech_list_mic(&mt[..mt_len]).map_err(auth_status)?);
            }
        }
        let len = if wrapped {
            spnego::emit_resp(
                &mut out[buf_off..],
                NegState::AcceptCompleted,
                false,
                None,
                server_mic.as_ref().map(|m| &m[..]),
            )
            .map_err(|_| NtStatus::INTERNAL_ERROR)?
        } else {
            0
        };

        if identity == Identity::User {
            let rid = self.policy.user_rid(s.user.as_str());
            s.sid.clear();
            if let Some(rid) = rid {
                let g = self.cfg.server_guid;
                let _ = s
                    .sid
                    .extend_from_slice(&[1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0]);
                match self.policy.domain_sid() {
                    Some(d) => {
                        for a in d {
                            let _ = s.sid.extend_from_slice(&a.to_le_bytes());
                        }
                    }
                    None => {
                        let _ = s.sid.extend_from_slice(&g[0..12]);
                    }
                }
                let _ = s.sid.extend_from_slice(&rid.to_le_bytes());
            }
        }
        let reauth = s.signer.is_some() || !matches!(s.identity, Identity::None);
        s.identity = identity;
        s.state = SessionState::Valid;
        let mut flags = match identity {
            Identity::Guest => session_flags::IS_GUEST,
            Identity::Anonymous => session_flags::IS_NULL,
            _ => 0,
        };
        if identity == Identity::User && !reauth {
            s.session_key = session_key;
            let (cipher, algo) = {
                let c = self.conns.get(s.conn).ok_or(NtStatus::INTERNAL_ERROR)?;
                (c.cipher, c.signing_algo)
            };
            let keys = derive_keys(dialect, &session_key, &s.preauth.value, cipher);
            let algo = algo.ok_or(NtStatus::INTERNAL_ERROR)?;
            s.signer = Some(Signer::new(algo, &keys.signing));
            s.application_key = keys.application;
            if let Some(c) = cipher {
                // A fresh counter for the fresh key; the prefix keeps nonces of different
                // sessions apart too (the counter alone already makes them unique per key).
                let mut prefix = [0u8; 4];
                self.policy.fill_random(&mut prefix);
                s.nonces = smb_crypto::NonceCounter::new(prefix);
                s.encryptor = Sealer::new(c, keys.encryption_key()).ok();
                s.decryptor = Sealer::new(c, keys.decryption_key()).ok();
            }
            s.signing_required = self.cfg.signing == SigningPolicy::Mandatory
                || (client_sec_mode & security_mode::SIGNING_REQUIRED as u8 != 0
                    && self.cfg.signing != SigningPolicy::Disabled);
        }
        if identity != Identity::User {
            s.signing_required = false;
            flags &= !session_flags::ENCRYPT_DATA;
        }
        // `server smb encrypt`: encrypt the whole session when the client can; refuse a client
        // that cannot when it is required ([MS-SMB2] 3.3.5.5.3).
        let can_encrypt = identity == Identity::User && s.encryptor.is_some();
        match self.cfg.encrypt {
            EncryptPolicy::Off => {}
            EncryptPolicy::Desired if !can_encrypt => {}
            EncryptPolicy::Required if !can_encrypt => return Err(NtStatus::ACCESS_DENIED),
            _ => {
                s.encrypt_data = true;
                flags |= session_flags::ENCRYPT_DATA;
            }
        }
        let total = session_setup::emit_response(out, flags, len);
        Ok(Reply {
            status: NtStatus::SUCCESS,
            len: total,
        })
    }

    pub(crate) fn tree_connect(
        &mut self,
        msg: &[u8],
        out: &mut [u8],
        sh: Handle,
        chain: &mut Chain,
    ) -> HResult {
        let req = tree_connect::Request::parse(msg).map_err(|e| e.status())?;
        let mut buf = [0u8; 512];
        let path = Utf16Le(req.path)
            .to_utf8(&mut buf)
            .map_err(|_| NtStatus::BAD_NETWORK_NAME)?;
        // "\\server\share": the share is what follows the last backslash after the server.
        let rest = path
            .strip_prefix("\\\\")
            .ok_or(NtStatus::BAD_NETWORK_NAME)?;
        let name = rest
            .split_once('\\')
            .map(|(_, s)| s)
            .ok_or(NtStatus::BAD_NETWORK_NAME)?;
        if name.is_empty() || name.contains('\\') {
            return Err(NtStatus::BAD_NETWORK_NAME);
        }
        let s = self
            .sessions
            .get(sh)
            .ok_or(NtStatus::USER_SESSION_DELETED)?;
        let identity = s.identity;
        let user = s.user.clone();
        let who = match identity {
            Identity::User => Principal::User(user.as_str()),
            Identity::Guest => Principal::Guest,
            _ => Principal::Anonymous,
        };
        let (share, stype, max_access) = if crate::path::eq_ignore_case(name, "IPC$") {
            (None, share_type::PIPE, access::FILE_ALL_ACCESS)
        } else {
            let info = self
                .policy
                .find_share(name)
                .ok_or(NtStatus::BAD_NETWORK_NAME)?;
            let anonymous_like = identity != Identity::User;
            if anonymous_like && !info.guest_ok {
                return Err(NtStatus::ACCESS_DENIED);
            }
            if !self.policy.may_connect(info.id, who) {
                return Err(NtStatus::ACCESS_DENIED);
            }
            let max = if info.read_only {
                access::FILE_GENERIC_READ | access::FILE_GENERIC_EXECUTE
            } else {
                access::FILE_ALL_ACCESS
            };
            (Some(info), share_type::DISK, max)
        };
        // `smb encrypt` of the share ([MS-SMB2] 3.3.5.7).
        let session_encrypts = self.sessions.get(sh).is_some_and(|s| s.encryptor.is_some());
        let session_encrypted = self.sessions.get(sh).is_some_and(|s| s.encrypt_data);
        let share_encrypt = share.map(|i| i.encrypt).unwrap_or(EncryptPolicy::Off);
        let encrypt = match share_encrypt {
            EncryptPolicy::Off => false,
            _ if session_encrypts && identity == Identity::User => true,
            EncryptPolicy::Desired => false,
            EncryptPolicy::Required => return Err(NtStatus::ACCESS_DENIED),
        };
        let share_flags = if encrypt || session_encrypted {
            tree_connect::share_flags::ENCRYPT_DATA
        } else {
            0
        };
        let t = Tree {
            id: 0,
            session: sh,
            encrypt,
            share,
            maximal_access: max_access,
        };
        let th = self
            .trees
            .insert(t)
            .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
        let id = crate::tree_id_from_handle(th);
        if let Some(t) = self.trees.get_mut(th) {
            t.id = id;
        }
        chain.tree = Some(th);
        chain.tree_id = id;
        let len = tree_connect::emit_response(out, stype, share_flags, 0, max_access);
        Ok(Reply {
            status: NtStatus::SUCCESS,
            len,
        })
    }

    /// After the response header is written: fold SESSION_SETUP and NEGOTIATE responses into
    /// the preauth hash (3.1.1).
    pub(crate) fn preauth_after(&mut self, conn: ConnId, resp: &[u8], sid: u64, negotiate: bool) {
        if negotiate {
            if let Some(c) = self.conns.get_mut(conn.0) {
                if c.dialect == dialect::SMB3_11 {
                    c.preauth.update(resp);
                }
            }
            return;
        }
        if let Some(h) = self.session_handle(conn.0, sid) {
            if let Some(s) = self.sessions.get_mut(h) {
                s.preauth.update(resp);
            }
        }
    }
}

fn truncate(s: &str, cap: usize) -> &str {
    if s.len() <= cap {
        return s;
    }
    let mut e = cap;
    while !s.is_char_boundary(e) {
        e -= 1;
    }
    &s[..e]
}

fn auth_status(e: AuthError) -> NtStatus {
    match e {
        AuthError::LogonFailure => NtStatus::LOGON_FAILURE,
        AuthError::Malformed | AuthError::WrongState => NtStatus::INVALID_PARAMETER,
        AuthError::Unsupported => NtStatus::NOT_SUPPORTED,
        AuthError::BufferTooSmall => NtStatus::INTERNAL_ERROR,
    }
}

/// Preauth hash of a new session starts from the connection's.
pub(crate) fn _unused(_: PreauthHash) {}
