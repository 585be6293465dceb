//! Client path names to VFS paths ([MS-FSCC] 2.1.5 pathname rules, [MS-SMB2] 3.3.5.9): UTF-16LE,
//! `\`-separated, relative to the share root, to the normalized UTF-8 form [`crate::vfs`]
//! expects. Everything that could leave the share or name something other than a plain file
//! is refused here, before the VFS sees it.

use smb_wire::utf16::{NameError, Utf16Le};
use smb_wire::NtStatus;

/// Longest path accepted, in UTF-8 bytes.
pub const MAX_PATH: usize = 4096;
/// Longest name component, in UTF-16 code units ([MS-FSCC] 2.1.5.2).
pub const MAX_COMPONENT: usize = 255;

/// Converts `name` into `out`. A trailing `::$DATA` (the default stream) is accepted and
/// removed; any other stream name is `OBJECT_NAME_INVALID` (streams are not supported).
/// Returns the path and whether the client wrote a trailing backslash.
pub fn normalize<'b>(name: &[u8], out: &'b mut [u8]) -> Result<&'b str, NtStatus> {
    match normalize_stream(name, out)? {
        (p, None) => Ok(p),
        (_, Some(_)) => Err(NtStatus::OBJECT_NAME_INVALID),
    }
}

/// Like [`normalize`], for names that may address a named data stream
/// (`file:stream` or `file:stream:$DATA`, [MS-FSCC] 2.1.5.4). Returns the file's path and the
/// stream name; `file::$DATA` is the file itself (no stream). Stream types other than `$DATA`
/// are `OBJECT_NAME_INVALID`.
pub fn normalize_stream<'b>(
    name: &[u8],
    out: &'b mut [u8],
) -> Result<(&'b str, Option<&'b str>), NtStatus> {
    let s = Utf16Le(name).to_utf8(out).map_err(|e| match e {
        NameError::Invalid => NtStatus::OBJECT_NAME_INVALID,
        NameError::TooLong => NtStatus::NAME_TOO_LONG,
    })?;
    let len = s.len();
    // '/' separates components as '\' does (Samba and smbtorture rely on it; Windows refuses
    // it as a name character, so it can never be part of a stored name either way).
    for b in out[..len].iter_mut() {
        if *b == b'/' {
            *b = b'\\';
        }
    }
    let s = core::str::from_utf8(&out[..len]).map_err(|_| NtStatus::OBJECT_NAME_INVALID)?;
    if s.starts_with('\\') {
        // [MS-SMB2] 3.3.5.9: the name must not start with a separator.
        return Err(NtStatus::INVALID_PARAMETER);
    }

    // A ':' in the last component starts the stream part.
    let last_start = s.rfind('\\').map(|i| i + 1).unwrap_or(0);
    let (mut end, stream_range) = match s[last_start..].find(':') {
        None => (len, None),
        Some(c) => {
            let colon = last_start + c;
            let rest = &s[colon + 1..];
            let (sname, stype) = match rest.find(':') {
                Some(k) => (&rest[..k], Some(&rest[k + 1..])),
                None => (rest, None),
            };
            if let Some(t) = stype {
                if !t.eq_ignore_ascii_case("$DATA") {
                    return Err(NtStatus::OBJECT_NAME_INVALID);
                }
            } else if sname.is_empty() {
                // "file:" names nothing.
                return Err(NtStatus::OBJECT_NAME_INVALID);
            }
            check_stream_name(sname)?;
            let start = colon + 1;
            let range = (!sname.is_empty()).then_some(start..start + sname.len());
            (colon, range)
        }
    };
    // One trailing separator names the directory itself.
    if end > 0 && s.as_bytes()[end - 1] == b'\\' && stream_range.is_none() {
        end -= 1;
    }
    for b in out[..end].iter_mut() {
        if *b == b'\\' {
            *b = b'/';
        }
    }
    let (head, tail) = out.split_at(end);
    let p = core::str::from_utf8(head).map_err(|_| NtStatus::OBJECT_NAME_INVALID)?;
    if !p.is_empty() {
        for comp in p.split('/') {
            check_component(comp)?;
        }
    }
    let stream = match stream_range {
        Some(r) => {
            if p.is_empty() {
                // The share root has no named streams here.
                return Err(NtStatus::OBJECT_NAME_INVALID);
            }
            let t = &tail[r.start - end..r.end - end];
            Some(core::str::from_utf8(t).map_err(|_| NtStatus::OBJECT_NAME_INVALID)?)
        }
        None => None,
    };
    Ok((p, stream))
}

/// Checks a stream name (the part between the colons).
fn check_stream_name(n: &str) -> Result<(), NtStatus> {
    if n.encode_utf16().count() > MAX_COMPONENT {
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    if n.chars()
        .any(|c| matches!(c, '\0'..='\u{1f}' | '/' | '\\' | ':'))
    {
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    Ok(())
}

/// Checks one name component.
pub fn check_component(comp: &str) -> Result<(), NtStatus> {
    if comp.is_empty() {
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    if comp == "." || comp == ".." {
        return Err(NtStatus::OBJECT_PATH_SYNTAX_BAD);
    }
    if comp.encode_utf16().count() > MAX_COMPONENT {
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    for c in comp.chars() {
        match c {
            '\0'..='\u{1f}' | '"' | '*' | ':' | '<' | '>' | '?' | '|' | '/' | '\\' => {
                return Err(NtStatus::OBJECT_NAME_INVALID)
            }
            _ => {}
        }
    }
    Ok(())
}

/// The last component of a normalized path.
pub fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Case-insensitive match of `name` against a Windows wildcard `pattern` ([MS-FSA] 2.1.4.4):
/// `*` any run, `?` one character, and the DOS forms `<` (like `*`), `>` (like `?`) and `"`
/// (a dot). `*.*` and `*` match every name. Iterative with one backtrack point: linear in
/// practice, never recursive.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    if pattern == "*" || pattern == "*.*" || pattern == "<.*" {
        return true;
    }
    let mut p = pattern.chars().peekable();
    let _ = &mut p;
    let pat: PatIter<'_> = PatIter(pattern);
    pat.matches(name)
}

struct PatIter<'a>(&'a str);

impl PatIter<'_> {
    fn matches(&self, name: &str) -> bool {
        let pb = self.0.as_bytes();
        let nb = name.as_bytes();
        let (mut pi, mut ni) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while ni < nb.len() {
            if pi < pb.len() {
                let (pc, plen) = decode(&self.0[pi..]);
                let (nc, nlen) = decode(&name[ni..]);
                match pc {
                    '*' | '<' => {
                        star = Some((pi + plen, ni));
                        pi += plen;
                        continue;
                    }
                    '?' | '>' => {
                        pi += plen;
                        ni += nlen;
                        continue;
                    }
                    '"' if nc == '.' => {
                        pi += plen;
                        ni += nlen;
                        continue;
                    }
                    _ if eq_ci(pc, nc) => {
                        pi += plen;
                        ni += nlen;
                        continue;
                    }
                    _ => {}
                }
            }
            match star {
                Some((sp, sn)) => {
                    let (_, l) = decode(&name[sn..]);
                    star = Some((sp, sn + l));
                    pi = sp;
                    ni = sn + l;
                }
                None => return false,
            }
        }
        // Trailing stars (and DOS dot/qm at the end) match the empty rest.
        while pi < pb.len() {
            let (pc, plen) = decode(&self.0[pi..]);
            if matches!(pc, '*' | '<' | '>' | '"') {
                pi += plen;
            } else {
                return false;
            }
        }
        true
    }
}

fn decode(s: &str) -> (char, usize) {
    let c = s.chars().next().unwrap_or('\0');
    (c, c.len_utf8().max(1))
}

fn eq_ci(a: char, b: char) -> bool {
    a == b || a.to_lowercase().eq(b.to_lowercase())
}

/// Case-insensitive equality of two names (simple case folding).
pub fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u16le(s: &str, out: &mut [u8]) -> usize {
        let mut n = 0;
        for u in s.encode_utf16() {
            out[n..n + 2].copy_from_slice(&u.to_le_bytes());
            n += 2;
        }
        n
    }

    fn norm(s: &str) -> Result<([u8; 256], usize), NtStatus> {
        let mut w = [0u8; 512];
        let n = u16le(s, &mut w);
        let mut out = [0u8; 256];
        let l = normalize(&w[..n], &mut out)?.len();
        Ok((out, l))
    }

    fn ok(s: &str) -> &'static str {
        let (o, l) = norm(s).unwrap();
        let v: &'static mut [u8] = std::boxed::Box::leak(std::boxed::Box::new(o));
        core::str::from_utf8(&v[..l]).unwrap()
    }

    extern crate std;

    #[test]
    fn streams() {
        let enc = |s: &str| -> std::vec::Vec<u8> {
            s.encode_utf16().flat_map(u16::to_le_bytes).collect()
        };
        let mut out = [0u8; 256];
        let (p, st) = normalize_stream(&enc("dir\\f.txt:AFP_AfpInfo"), &mut out).unwrap();
        assert_eq!((p, st), ("dir/f.txt", Some("AFP_AfpInfo")));
        let mut out = [0u8; 256];
        let (p, st) = normalize_stream(&enc("f.txt:s1:$DATA"), &mut out).unwrap();
        assert_eq!((p, st), ("f.txt", Some("s1")));
        let mut out = [0u8; 256];
        assert_eq!(
            normalize_stream(&enc("f.txt::$DATA"), &mut out).unwrap(),
            ("f.txt", None)
        );
        for bad in [
            "f.txt:s:$INDEX_ALLOCATION",
            "f.txt:",
            "a:b\\c",
            ":s",
            "f.txt:a:b:c",
        ] {
            let mut out = [0u8; 256];
            assert!(normalize_stream(&enc(bad), &mut out).is_err(), "{bad}");
        }
        let mut out = [0u8; 256];
        assert!(
            normalize(&enc("f.txt:s"), &mut out).is_err(),
            "plain normalize refuses streams"
        );
    }

    #[test]
    fn non_ascii_names_do_not_panic() {
        assert_eq!(ok("ファイル"), "ファイル");
        assert_eq!(ok("»enamed"), "»enamed");
        assert_eq!(ok("dir\\ünï::$DATA"), "dir/ünï");
    }

    #[test]
    fn normalizes() {
        assert_eq!(ok(""), "");
        assert_eq!(ok("a\\b\\c.txt"), "a/b/c.txt");
        assert_eq!(ok("dir\\"), "dir");
        // '/' separates like '\' (Samba accepts it; smbtorture uses it).
        assert_eq!(ok("a/b\\c.txt"), "a/b/c.txt");
        assert_eq!(ok("file::$DATA"), "file");
    }

    #[test]
    fn refuses_escapes_and_tricks() {
        assert_eq!(
            norm("..\\etc").unwrap_err(),
            NtStatus::OBJECT_PATH_SYNTAX_BAD
        );
        assert_eq!(
            norm("a\\..\\..\\b").unwrap_err(),
            NtStatus::OBJECT_PATH_SYNTAX_BAD
        );
        assert_eq!(
            norm("\\etc\\passwd").unwrap_err(),
            NtStatus::INVALID_PARAMETER
        );
        assert_eq!(
            norm("/etc/passwd").unwrap_err(),
            NtStatus::INVALID_PARAMETER
        );
        assert_eq!(norm("a//b").unwrap_err(), NtStatus::OBJECT_NAME_INVALID);
        assert_eq!(
            norm("a/../b").unwrap_err(),
            NtStatus::OBJECT_PATH_SYNTAX_BAD
        );
        assert_eq!(norm("a\0b").unwrap_err(), NtStatus::OBJECT_NAME_INVALID);
        assert_eq!(
            norm("file:stream").unwrap_err(),
            NtStatus::OBJECT_NAME_INVALID
        );
        assert_eq!(
            norm("file:stream:$DATA").unwrap_err(),
            NtStatus::OBJECT_NAME_INVALID
        );
        assert_eq!(norm("C:\\x").unwrap_err(), NtStatus::OBJECT_NAME_INVALID);
        assert_eq!(norm("a\\\\b").unwrap_err(), NtStatus::OBJECT_NAME_INVALID);
        assert_eq!(norm("a*").unwrap_err(), NtStatus::OBJECT_NAME_INVALID);
        assert_eq!(norm(".").unwrap_err(), NtStatus::OBJECT_PATH_SYNTAX_BAD);
        let long: std::string::String = "x".repeat(256);
        assert_eq!(norm(&long).unwrap_err(), NtStatus::OBJECT_NAME_INVALID);
        // Unpaired surrogate.
        assert_eq!(
            normalize(&[0x00, 0xd8], &mut [0u8; 8]).unwrap_err(),
            NtStatus::OBJECT_NAME_INVALID
        );
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("*.*", "noext"));
        assert!(wildcard_match("*.TXT", "a.txt"));
        assert!(wildcard_match("a?c", "abc"));
        assert!(!wildcard_match("a?c", "abbc"));
        assert!(wildcard_match("a*b*c", "axxbyyc"));
        assert!(!wildcard_match("a*b*c", "axxbyy"));
        assert!(wildcard_match("exact", "EXACT"));
        assert!(!wildcard_match("exact", "exact2"));
        assert!(wildcard_match("<.txt", "x.txt"));
        assert!(wildcard_match("file\"txt", "file.txt"));
        assert!(wildcard_match("\u{e9}*", "\u{c9}t\u{e9}"));
    }
}
