#!/usr/bin/env python3
"""tests/interop/pyclient.py - Python smbprotocol against a running smbed (SMB 3.1.1).

Usually started by pyclient.sh, which starts a private smbed first.

Checks (one `PASS name` / `FAIL name: reason` line each, then a summary line
`interop pyclient: N passed, M failed`; exit status 1 on any failure):

* low level (smbprotocol.connection/session/tree/open): negotiate SMB 3.1.1;
  a signed session (SPNEGO/negotiate auth); a session with
  require_encryption=True (raw NTLMSSP auth); every 3.1.1 cipher and signing
  algorithm smbprotocol offers; file create/write/read/close on each;
* `..` escapes with names sent verbatim (smbclient normalises them away on the
  client side; these reach the server as written): each open must fail and
  nothing outside the share may be read (--canary-token: the content of a
  file next to the share directory);
* high level (the `smbclient` module: register_session, mkdir, open_file,
  listdir, stat, rename, remove, rmdir), once signed and once encrypted,
  including a 10 MiB write/read with a sha256 check.

    python3 pyclient.py --port PORT [--host 127.0.0.1] [--share share]
        [--user alice] [--password 'Passw0rd!'] [--canary-token TOKEN]
"""
import argparse
import hashlib
import logging
import os
import sys
import time
import traceback
import uuid

try:
    import smbclient
    from smbprotocol.connection import Ciphers, Connection, Dialects, SigningAlgorithms
    from smbprotocol.exceptions import SMBResponseException
    from smbprotocol.open import (CreateDisposition, CreateOptions, FileAttributes,
                                  FilePipePrinterAccessMask, ImpersonationLevel, Open,
                                  ShareAccess)
    from smbprotocol.session import Session
    from smbprotocol.tree import TreeConnect
except ImportError as e:  # pragma: no cover
    print(f"FAIL setup: smbprotocol is not installed ({e}); pip install smbprotocol")
    print("interop pyclient: 0 passed, 1 failed")
    sys.exit(1)

TIMEOUT = 30
RESULTS = {"pass": 0, "fail": 0}


def check(name, fn, *a, **kw):
    """Runs fn; PASS if it returns without raising. Returns fn's value or None."""
    try:
        t0 = time.time()
        v = fn(*a, **kw)
    except Exception as e:  # noqa: BLE001 - every error is a failed check
        reason = f"{type(e).__name__}: {e}".replace("\n", " ")[:300]
        print(f"FAIL {name}: {reason}", flush=True)
        if os.environ.get("PYCLIENT_DEBUG"):
            traceback.print_exc()
        RESULTS["fail"] += 1
        return None
    RESULTS["pass"] += 1
    dt = time.time() - t0
    print(f"PASS {name}" + (f"  # {dt:.1f}s" if dt >= 1 else ""), flush=True)
    return v


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


# --- low level helpers -------------------------------------------------------

class Client:
    """One connection + session + tree, closed by close()."""

    def __init__(self, args, *, encrypt, auth="ntlm", cipher=None, signing_algo=None):
        self.conn = Connection(uuid.uuid4(), args.host, args.port, require_signing=True)
        kw = {}
        if cipher is not None:
            kw["preferred_encryption_algos"] = [cipher]
        if signing_algo is not None:
            kw["preferred_signing_algos"] = [signing_algo]
        self.conn.connect(Dialects.SMB_3_1_1, timeout=TIMEOUT, **kw)
        self.session = None
        self.tree = None
        try:
            self.session = Session(self.conn, args.user, args.password,
                                   require_encryption=encrypt, auth_protocol=auth)
            self.session.connect()
            self.tree = TreeConnect(self.session, rf"\\{args.host}\{args.share}")
            self.tree.connect()
        except Exception:
            self.close()
            raise

    def close(self):
        for step in (lambda: self.tree and self.tree.disconnect(),
                     lambda: self.session and self.session.disconnect(),
                     lambda: self.conn.disconnect(True)):
            try:
                step()
            except Exception:  # noqa: BLE001 - best effort
                pass


def raw_open(tree, name, disposition=CreateDisposition.FILE_OPEN, directory=False):
    o = Open(tree, name)
    opts = CreateOptions.FILE_DIRECTORY_FILE if directory else CreateOptions.FILE_NON_DIRECTORY_FILE
    access = (FilePipePrinterAccessMask.GENERIC_READ | FilePipePrinterAccessMask.GENERIC_WRITE
              | FilePipePrinterAccessMask.DELETE)
    if directory:
        access = FilePipePrinterAccessMask.GENERIC_READ | FilePipePrinterAccessMask.DELETE
    o.create(ImpersonationLevel.Impersonation, access,
             FileAttributes.FILE_ATTRIBUTE_DIRECTORY if directory else FileAttributes.FILE_ATTRIBUTE_NORMAL,
             ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | ShareAccess.FILE_SHARE_DELETE,
             disposition, opts)
    return o


def raw_roundtrip(tree, name, size):
    """create, write, read back, delete-on-close a file of `size` random bytes."""
    data = os.urandom(size)
    o = raw_open(tree, name, CreateDisposition.FILE_OVERWRITE_IF)
    try:
        off = 0
        chunk = min(tree.session.connection.max_write_size, 1 << 20)
        while off < len(data):
            o.write(data[off:off + chunk], off)
            off += chunk
        back = b""
        chunk = min(tree.session.connection.max_read_size, 1 << 20)
        while len(back) < len(data):
            back += o.read(len(back), min(chunk, len(data) - len(back)))
        expect(hashlib.sha256(back).digest() == hashlib.sha256(data).digest(),
               f"read back {len(back)} bytes differing from the {len(data)} written")
    finally:
        o.close()
    # delete: reopen with delete-on-close
    d = Open(tree, name)
    d.create(ImpersonationLevel.Impersonation, FilePipePrinterAccessMask.DELETE,
             FileAttributes.FILE_ATTRIBUTE_NORMAL, ShareAccess.FILE_SHARE_DELETE,
             CreateDisposition.FILE_OPEN,
             CreateOptions.FILE_NON_DIRECTORY_FILE | CreateOptions.FILE_DELETE_ON_CLOSE)
    d.close()


def low_level(args):
    # 1. plain negotiate
    def negotiate():
        conn = Connection(uuid.uuid4(), args.host, args.port, require_signing=True)
        conn.connect(Dialects.SMB_3_1_1, timeout=TIMEOUT)
        try:
            expect(conn.dialect == Dialects.SMB_3_1_1, f"dialect 0x{conn.dialect:04x}")
        finally:
            conn.disconnect(True)
    check("negotiate SMB 3.1.1", negotiate)

    # 2. signed session (negotiate = SPNEGO-wrapped NTLMSSP), 3. require_encryption=True
    # (raw NTLMSSP); each ends with an explicit TREE_DISCONNECT + LOGOFF, whose
    # responses must be signed / encrypted like every other one.
    for label, enc, auth in (("signed (spnego)", False, "negotiate"),
                             ("require_encryption (ntlm)", True, "ntlm")):
        def setup(enc=enc, auth=auth):
            c = Client(args, encrypt=enc, auth=auth)
            try:
                expect(c.conn.dialect == Dialects.SMB_3_1_1, f"dialect 0x{c.conn.dialect:04x}")
                if enc:
                    expect(c.session.encrypt_data, "session not encrypted")
                else:
                    expect(c.session.signing_required, "session is not signed")
                    expect(not c.session.encrypt_data, "session unexpectedly encrypted")
            except Exception:
                c.close()
                raise
            return c
        c = check(f"session {label}", setup)
        if c is None:
            continue
        try:
            check(f"session {label} write/read", raw_roundtrip, c.tree,
                  f"py-{uuid.uuid4().hex[:8]}.bin", 300_000)
            check(f"session {label} tree disconnect", c.tree.disconnect)
            c.tree = None

            def logoff(c=c):
                c.session.disconnect()
                c.session = None
            check(f"session {label} logoff", logoff)
        finally:
            c.close()

    # 4. every cipher
    for cipher in (Ciphers.AES_128_GCM, Ciphers.AES_128_CCM, Ciphers.AES_256_GCM, Ciphers.AES_256_CCM):
        cname = {v: k for k, v in vars(Ciphers).items() if isinstance(v, int)}[cipher]

        def one_cipher(cipher=cipher):
            c = Client(args, encrypt=True, cipher=cipher)
            try:
                expect(c.conn.cipher_id == cipher, f"server chose cipher {c.conn.cipher_id}")
                expect(c.session.encrypt_data, "session not encrypted")
                raw_roundtrip(c.tree, f"py-{uuid.uuid4().hex[:8]}.bin", 200_000)
            finally:
                c.close()
        check(f"cipher {cname}", one_cipher)

    # 5. every signing algorithm
    for algo in (SigningAlgorithms.AES_CMAC, SigningAlgorithms.AES_GMAC, SigningAlgorithms.HMAC_SHA256):
        aname = {v: k for k, v in vars(SigningAlgorithms).items() if isinstance(v, int)}[algo]

        def one_algo(algo=algo):
            c = Client(args, encrypt=False, signing_algo=algo)
            try:
                got = getattr(c.conn, "signing_algorithm_id", algo)
                # A server may ignore SMB2_SIGNING_CAPABILITIES and use AES-CMAC (3.1.1's default).
                expect(got in (algo, SigningAlgorithms.AES_CMAC), f"signing algorithm {got}")
                raw_roundtrip(c.tree, f"py-{uuid.uuid4().hex[:8]}.bin", 100_000)
            finally:
                c.close()
        check(f"signing {aname}", one_algo)


def escapes(args):
    """Names with `..` sent verbatim: every open must fail, nothing outside may be read."""
    c = check("escape setup", Client, args, encrypt=False)
    if c is None:
        return
    try:
        sub = raw_open(c.tree, "pysub", CreateDisposition.FILE_OPEN_IF, directory=True)
        sub.close()
        names = [
            (r"..\canary.txt", False),
            (r"..\..\..\..\..\..\etc\passwd", False),
            (r"pysub\..\..\canary.txt", False),
            (r"pysub\..\..\..\..\..\..\etc\passwd", False),
            (r"..", True),
            (r"..\\", True),
            (r"pysub\..\..", True),
            (r"pysub/../../canary.txt", False),
            (r"../canary.txt", False),
            (r"\..\canary.txt", False),
        ]
        for name, is_dir in names:
            def one(name=name, is_dir=is_dir):
                try:
                    o = raw_open(c.tree, name, directory=is_dir)
                except SMBResponseException:
                    return  # refused: good
                # It opened: show what was reached.
                try:
                    if is_dir:
                        entries = [e["file_name"].get_value().decode("utf-16-le")
                                   for e in o.query_directory("*", 1)]  # FileDirectoryInformation
                        leaked = [e for e in entries if e in ("canary.txt", "smb.conf", "state", "etc")]
                        raise AssertionError(f"opened directory {name!r}: entries {entries[:8]}"
                                             + (" (OUTSIDE THE SHARE)" if leaked else ""))
                    data = o.read(0, 4096)
                    leak = (args.canary_token and args.canary_token.encode() in data) or data.startswith(b"root:")
                    raise AssertionError(f"opened {name!r}, read {len(data)} bytes"
                                         + (" FROM OUTSIDE THE SHARE" if leak else ""))
                finally:
                    o.close()
            check(f"escape open {name!r} refused", one)
        d = raw_open(c.tree, "pysub", directory=True)
        d.close()
        rm = Open(c.tree, "pysub")
        rm.create(ImpersonationLevel.Impersonation, FilePipePrinterAccessMask.DELETE,
                  FileAttributes.FILE_ATTRIBUTE_DIRECTORY, ShareAccess.FILE_SHARE_DELETE,
                  CreateDisposition.FILE_OPEN,
                  CreateOptions.FILE_DIRECTORY_FILE | CreateOptions.FILE_DELETE_ON_CLOSE)
        rm.close()
    except Exception as e:  # noqa: BLE001
        check("escape checks", lambda: (_ for _ in ()).throw(e))
    finally:
        c.close()


def high_level(args, mode):
    """The `smbclient` module: mode is 'signed' or 'encrypted'."""
    encrypt = mode == "encrypted"
    cache = {}
    kw = dict(port=args.port, connection_cache=cache)
    p = f"hl {mode}"

    def register():
        s = smbclient.register_session(args.host, username=args.user, password=args.password,
                                       port=args.port, encrypt=encrypt, require_signing=True,
                                       connection_timeout=TIMEOUT, connection_cache=cache,
                                       auth_protocol="ntlm")
        expect(s.connection.dialect == Dialects.SMB_3_1_1, f"dialect 0x{s.connection.dialect:04x}")
        expect(s.signing_required or s.encrypt_data, "session neither signed nor encrypted")
        expect(bool(s.encrypt_data) == encrypt, f"encrypt_data={s.encrypt_data}")
    # Without a session the rest fails too; it still runs, so the report shows each check.
    check(f"{p} register_session", register)

    base = rf"\\{args.host}\{args.share}"
    d = rf"{base}\py-{mode}-{uuid.uuid4().hex[:8]}"
    payload = b"hello from smbprotocol\n" * 1000
    big = os.urandom(10 * 1024 * 1024)

    check(f"{p} mkdir", smbclient.mkdir, d, **kw)

    def write_read():
        with smbclient.open_file(rf"{d}\hello.txt", mode="wb", **kw) as fh:
            fh.write(payload)
        with smbclient.open_file(rf"{d}\hello.txt", mode="rb", **kw) as fh:
            got = fh.read()
        expect(got == payload, f"read back {len(got)} bytes, wrote {len(payload)}")
        st = smbclient.stat(rf"{d}\hello.txt", **kw)
        expect(st.st_size == len(payload), f"stat size {st.st_size}")
    check(f"{p} open_file write/read/stat", write_read)

    def big_rw():
        with smbclient.open_file(rf"{d}\big.bin", mode="wb", **kw) as fh:
            fh.write(big)
        with smbclient.open_file(rf"{d}\big.bin", mode="rb", **kw) as fh:
            back = fh.read()
        expect(len(back) == len(big), f"read {len(back)} bytes, wrote {len(big)}")
        expect(hashlib.sha256(back).hexdigest() == hashlib.sha256(big).hexdigest(), "sha256 mismatch")
    check(f"{p} 10MiB write/read sha256", big_rw)

    def listing():
        names = sorted(smbclient.listdir(d, **kw))
        expect(names == ["big.bin", "hello.txt"], f"listdir {names}")
        entries = {e.name: e for e in smbclient.scandir(d, **kw)}
        size = entries["big.bin"].smb_info.end_of_file
        expect(size == len(big), f"scandir size of big.bin: {size}")
    check(f"{p} listdir/scandir", listing)

    def rename():
        smbclient.rename(rf"{d}\hello.txt", rf"{d}\renamed.txt", **kw)
        names = sorted(smbclient.listdir(d, **kw))
        expect(names == ["big.bin", "renamed.txt"], f"after rename: {names}")
    check(f"{p} rename", rename)

    def remove():
        smbclient.remove(rf"{d}\renamed.txt", **kw)
        smbclient.remove(rf"{d}\big.bin", **kw)
        names = smbclient.listdir(d, **kw)
        expect(names == [], f"after remove: {names}")
    check(f"{p} remove", remove)

    def rmdir():
        smbclient.rmdir(d, **kw)
        expect(not smbclient.path.exists(d, **kw), "directory still exists")
    check(f"{p} rmdir", rmdir)

    try:
        smbclient.reset_connection_cache(connection_cache=cache)
    except Exception:  # noqa: BLE001
        pass


def framing(args):
    """Direct TCP framing ([MS-SMB2] 2.1) over a raw socket: a frame that arrives a byte at
    a time, and two frames in one segment, are each answered."""
    import socket
    import struct

    def frame(cmd, mid, body):
        h = b"\xfeSMB" + struct.pack("<HHIHHIIQIIQ16s", 64, 0, 0, cmd, 1, 0, 0, mid, 0, 0, 0,
                                      b"\0" * 16)
        return struct.pack(">I", len(h) + len(body)) + h + body

    neg = frame(0, 0, struct.pack("<HHHHI16sIHHH", 36, 1, 1, 0, 0, b"g" * 16, 0, 0, 0, 0x0202))
    echo = frame(13, 1, struct.pack("<HH", 4, 0))

    def answer(s):
        head = b""
        while len(head) < 4:
            chunk = s.recv(4 - len(head))
            expect(chunk, "connection closed")
            head += chunk
        n = struct.unpack(">I", head)[0]
        data = b""
        while len(data) < n:
            chunk = s.recv(n - len(data))
            expect(chunk, "connection closed")
            data += chunk
        return struct.unpack("<H", data[12:14])[0], struct.unpack("<I", data[8:12])[0]

    def split():
        with socket.create_connection((args.host, args.port), timeout=TIMEOUT) as s:
            for b in neg:
                s.send(bytes([b]))
                time.sleep(0.001)
            expect(answer(s) == (0, 0), "NEGOTIATE sent a byte at a time not answered")

    def joined():
        with socket.create_connection((args.host, args.port), timeout=TIMEOUT) as s:
            s.sendall(neg + echo)
            expect(answer(s) == (0, 0), "first of two joined frames")
            expect(answer(s) == (13, 0), "second of two joined frames (ECHO)")

    def oversized():
        # A length field beyond the largest frame: the connection is closed, nothing else.
        with socket.create_connection((args.host, args.port), timeout=TIMEOUT) as s:
            s.sendall(struct.pack(">I", 0x00FFFFFF) + b"\xfeSMB" + b"\0" * 60)
            expect(s.recv(1) == b"", "an oversized frame must close the connection")
        split()  # and the server still answers others

    check("framing: a frame split into 1-byte writes", split)
    check("framing: two frames in one write", joined)
    check("framing: an oversized length closes only that connection", oversized)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--share", default="share")
    ap.add_argument("--user", default="alice")
    ap.add_argument("--password", default="Passw0rd!")
    ap.add_argument("--canary-token", default="", help="content of a file next to the share dir")
    args = ap.parse_args()
    # smbprotocol logs the traceback of every error its receive thread hits; the
    # failing check already reports it (PYCLIENT_DEBUG=1 shows them).
    if not os.environ.get("PYCLIENT_DEBUG"):
        logging.getLogger("smbprotocol").setLevel(logging.CRITICAL)

    low_level(args)
    framing(args)
    escapes(args)
    high_level(args, "signed")
    high_level(args, "encrypted")

    print(f"interop pyclient: {RESULTS['pass']} passed, {RESULTS['fail']} failed")
    return 0 if RESULTS["fail"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
