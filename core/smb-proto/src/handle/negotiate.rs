//! NEGOTIATE ([MS-SMB2] 3.3.5.3, 3.3.5.4) and the SMB1 multi-protocol upgrade (3.3.5.3.1).

use smb_crypto::{Cipher, SigningAlgo};
use smb_wire::header::{Command, Header, HEADER_LEN};
use smb_wire::ids::dialect;
use smb_wire::negotiate::{self, capabilities, context_type, security_mode, ResponseRepr};
use smb_wire::{transport, NtStatus};

use crate::policy::Policy;
use crate::server::{ConnId, Disconnect, HResult, Reply, Server, SigningPolicy};
use crate::vfs::Vfs;

/// Ciphers in the server's order of preference ([MS-SMB2] 3.3.5.4: the server picks the first
/// of its own list that the client offers).
pub const CIPHERS: [Cipher; 4] = [
    Cipher::Aes128Gcm,
    Cipher::Aes256Gcm,
    Cipher::Aes128Ccm,
    Cipher::Aes256Ccm,
];
/// Signing algorithms in order of preference.
pub const SIGNING: [SigningAlgo; 3] = [
    SigningAlgo::AesGmac,
    SigningAlgo::AesCmac,
    SigningAlgo::HmacSha256,
];

impl<V: Vfs, P: Policy> Server<'_, V, P> {
    /// Picks the highest dialect both sides speak.
    pub(crate) fn select_dialect(&self, offered: impl Iterator<Item = u16>) -> Option<u16> {
        offered
            .filter(|d| {
                matches!(
                    *d,
                    dialect::SMB2_02
                        | dialect::SMB2_10
                        | dialect::SMB3_00
                        | dialect::SMB3_02
                        | dialect::SMB3_11
                )
            })
            .filter(|d| *d >= self.cfg.min_dialect && *d <= self.cfg.max_dialect)
            .max()
    }

    pub(crate) fn server_security_mode(&self) -> u16 {
        match self.cfg.signing {
            SigningPolicy::Mandatory => {
                security_mode::SIGNING_ENABLED | security_mode::SIGNING_REQUIRED
            }
            _ => security_mode::SIGNING_ENABLED,
        }
    }

    pub(crate) fn server_capabilities(&self, d: u16) -> u32 {
        let mut caps = 0;
        if d >= dialect::SMB2_10 {
            caps |= capabilities::LARGE_MTU;
        }
        if dialect::is_smb3(d) && d < dialect::SMB3_11 {
            caps |= capabilities::ENCRYPTION;
        }
        caps
    }

    pub(crate) fn negotiate(&mut self, conn: ConnId, msg: &[u8], out: &mut [u8]) -> HResult {
        let already = self
            .conns
            .get(conn.0)
            .map(|c| c.negotiated())
            .unwrap_or(true);
        if already {
            // A second NEGOTIATE on a connection is a protocol error ([MS-SMB2] 3.3.5.3.1).
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let req = negotiate::Request::parse(msg).map_err(|e| e.status())?;
        let Some(d) = self.select_dialect(req.dialects()) else {
            return Err(NtStatus::NOT_SUPPORTED);
        };
        let mut cipher = None;
        let mut signing = None;
        let mut preauth_ok = false;
        if d == dialect::SMB3_11 {
            for ctx in req.contexts() {
                let ctx = ctx.map_err(|e| e.status())?;
                match ctx.context_type {
                    context_type::PREAUTH_INTEGRITY_CAPABILITIES => {
                        let ids = negotiate::id_list(ctx.data, 0, 4).map_err(|e| e.status())?;
                        preauth_ok |= ids.chunks_exact(2).any(|i| i == [1, 0]);
                    }
                    context_type::ENCRYPTION_CAPABILITIES => {
                        let ids = negotiate::id_list(ctx.data, 0, 2).map_err(|e| e.status())?;
                        cipher = CIPHERS.into_iter().find(|c| {
                            ids.chunks_exact(2)
                                .any(|i| u16::from_le_bytes([i[0], i[1]]) == c.id())
                        });
                    }
                    context_type::SIGNING_CAPABILITIES => {
                        let ids = negotiate::id_list(ctx.data, 0, 2).map_err(|e| e.status())?;
                        signing = SIGNING.into_iter().find(|a| {
                            ids.chunks_exact(2)
                                .any(|i| u16::from_le_bytes([i[0], i[1]]) == a.id())
                        });
                    }
                    _ => {}
                }
            }
            if !preauth_ok {
                // [MS-SMB2] 3.3.5.4: no SHA-512 preauth context is an error.
                return Err(NtStatus::INVALID_PARAMETER);
            }
        }
        let signing = match d {
            dialect::SMB2_02 | dialect::SMB2_10 => SigningAlgo::HmacSha256,
            dialect::SMB3_11 => signing.unwrap_or(SigningAlgo::AesCmac),
            _ => SigningAlgo::AesCmac,
        };
        if dialect::is_smb3(d)
            && d < dialect::SMB3_11
            && req.capabilities & capabilities::ENCRYPTION != 0
        {
            cipher = Some(Cipher::Aes128Ccm);
        }
        let max_io = if d == dialect::SMB2_02 {
            65536
        } else {
            self.cfg.max_io
        };
        let sec_mode = self.server_security_mode();
        let mut caps = self.server_capabilities(d);
        if cipher.is_some() && d < dialect::SMB3_11 {
            caps |= capabilities::ENCRYPTION;
        } else if d < dialect::SMB3_11 {
            caps &= !capabilities::ENCRYPTION;
        }

        // Security buffer: the SPNEGO hint.
        let sec_off = negotiate::RESPONSE_SECURITY_OFFSET;
        let sec_len = smb_auth::spnego::emit_neg_hint(&mut out[sec_off..])
            .map_err(|_| NtStatus::INTERNAL_ERROR)?;
        let mut end = sec_off + sec_len;
        let mut ctx_count = 0u16;
        let mut ctx_off = 0;
        if d == dialect::SMB3_11 {
            end = crate::align8(end);
            ctx_off = end;
            let mut pre = [0u8; 38];
            pre[0] = 1; // HashAlgorithmCount
            pre[2] = 32; // SaltLength
            pre[4] = 1; // SHA-512
            self.policy.fill_random(&mut pre[6..]);
            out[sec_off + sec_len..end].fill(0);
            end = negotiate::emit_context(
                out,
                end,
                context_type::PREAUTH_INTEGRITY_CAPABILITIES,
                &pre,
            )
            .ok_or(NtStatus::INTERNAL_ERROR)?;
            ctx_count += 1;
            if let Some(c) = cipher {
                let a = crate::align8(end);
                out[end..a].fill(0);
                let id = c.id().to_le_bytes();
                end = negotiate::emit_context(
                    out,
                    a,
                    context_type::ENCRYPTION_CAPABILITIES,
                    &[1, 0, id[0], id[1]],
                )
                .ok_or(NtStatus::INTERNAL_ERROR)?;
                ctx_count += 1;
            }
            if signing_ctx_offered(&req) {
                let a = crate::align8(end);
                out[end..a].fill(0);
                let id = signing.id().to_le_bytes();
                end = negotiate::emit_context(
                    out,
                    a,
                    context_type::SIGNING_CAPABILITIES,
                    &[1, 0, id[0], id[1]],
                )
                .ok_or(NtStatus::INTERNAL_ERROR)?;
                ctx_count += 1;
            }
        }
        ResponseRepr {
            security_mode: sec_mode,
            dialect: d,
            server_guid: self.cfg.server_guid,
            capabilities: caps,
            max_transact_size: max_io,
            max_read_size: max_io,
            max_write_size: max_io,
            system_time: self.now,
            server_start_time: 0,
        }
        .emit(out, sec_len, ctx_count, ctx_off);

        let c = self.conns.get_mut(conn.0).ok_or(NtStatus::INTERNAL_ERROR)?;
        c.dialect = d;
        c.client_guid = req.client_guid;
        c.client_capabilities = req.capabilities;
        c.client_security_mode = req.security_mode;
        c.server_security_mode = sec_mode;
        c.server_capabilities = caps;
        c.cipher = cipher;
        c.signing_algo = Some(signing);
        c.multi_credit = d >= dialect::SMB2_10;
        if d == dialect::SMB3_11 {
            // The response header is filled in later; hash it after, see `finish_negotiate`.
            c.preauth = smb_crypto::PreauthHash::new();
            c.preauth.update(msg);
        }
        Ok(Reply {
            status: NtStatus::SUCCESS,
            len: end,
        })
    }

    /// Answers an SMB1 NEGOTIATE that offers SMB2 with an SMB2 NEGOTIATE response for dialect
    /// 2.0.2 or the wildcard 2.??? ([MS-SMB2] 3.3.5.3.1).
    pub(crate) fn smb1_negotiate(
        &mut self,
        conn: ConnId,
        rx: &[u8],
        tx: &mut [u8],
    ) -> Result<usize, Disconnect> {
        let c = self.conns.get(conn.0).ok_or(Disconnect("no conn"))?;
        if c.dialect != 0 {
            return Err(Disconnect("SMB1 after negotiate"));
        }
        // SMB1 header is 32 bytes, command at 4; then WordCount(1)=0, ByteCount(2), dialects.
        if rx.len() < 35 || rx[4] != 0x72 {
            return Err(Disconnect("SMB1 is not supported"));
        }
        let bytes = &rx[35..];
        let mut wildcard = false;
        let mut smb2002 = false;
        for d in bytes.split(|b| *b == 0) {
            match d {
                b"\x02SMB 2.???" => wildcard = true,
                b"\x02SMB 2.002" => smb2002 = true,
                _ => {}
            }
        }
        let d = if wildcard && self.cfg.max_dialect >= dialect::SMB2_10 {
            dialect::WILDCARD
        } else if smb2002 && self.cfg.min_dialect <= dialect::SMB2_02 {
            dialect::SMB2_02
        } else {
            return Err(Disconnect("SMB1 client without usable SMB2 dialects"));
        };
        let out = &mut tx[transport::HEADER_LEN..];
        let sec_off = negotiate::RESPONSE_SECURITY_OFFSET;
        let sec_len =
            smb_auth::spnego::emit_neg_hint(&mut out[sec_off..]).map_err(|_| Disconnect("hint"))?;
        let sec_mode = self.server_security_mode();
        ResponseRepr {
            security_mode: sec_mode,
            dialect: d,
            server_guid: self.cfg.server_guid,
            capabilities: self.server_capabilities(dialect::SMB2_10),
            max_transact_size: 65536,
            max_read_size: 65536,
            max_write_size: 65536,
            system_time: self.now,
            server_start_time: 0,
        }
        .emit(out, sec_len, 0, 0);
        let mut h = Header::new_unchecked(&mut out[..HEADER_LEN]);
        h.init_response();
        h.set_command(Command::NEGOTIATE);
        h.set_flags(smb_wire::header::flags::SERVER_TO_REDIR);
        h.set_credits(1);
        let c = self.conns.get_mut(conn.0).ok_or(Disconnect("no conn"))?;
        if d == dialect::SMB2_02 {
            c.dialect = d;
            c.signing_algo = Some(SigningAlgo::HmacSha256);
            c.server_security_mode = sec_mode;
        } else {
            c.dialect = dialect::WILDCARD;
        }
        // The SMB1 request consumed message id 0; the next SMB2 request uses id 1.
        let _ = c.credits.consume(0, 1);
        c.credits.grant(1, 1);
        let n = sec_off + sec_len;
        transport::emit_header(tx, n);
        Ok(n + transport::HEADER_LEN)
    }
}

fn signing_ctx_offered(req: &negotiate::Request<'_>) -> bool {
    req.contexts()
        .filter_map(Result::ok)
        .any(|c| c.context_type == context_type::SIGNING_CAPABILITIES)
}
