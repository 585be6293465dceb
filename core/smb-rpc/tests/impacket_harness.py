#!/usr/bin/env python3
"""End-to-end check of smb-rpc against impacket's DCE/RPC client.

Run by tests/impacket.rs, which plays the server: this script is impacket's real client
(DCERPC_v5: bind, request, fragmentation, reassembly, response decoding) over a fake
named-pipe transport whose bytes travel over stdin/stdout to the Rust side, one command per
line:

    -> OPEN <srvsvc|wkssvc> <fixture>        <- OK
    -> W <hex>                               <- OK <taken> | ERR <RpcError>
    -> T <max_out> <hex>                     <- D <more 0|1> <hex> | ERR <RpcError>
    -> R <max_out>                           <- D <more 0|1> <hex> | ERR <RpcError>
    -> PASS <checks> | SKIP <why> | FAIL <why>

The first line on stdin is `FIXTURES <json>`: the share lists the Rust side serves, so the
answers can be compared with what impacket decodes.
"""

import json
import sys
import traceback

OUT = sys.stdout
IN = sys.stdin


def send(line):
    OUT.write(line + "\n")
    OUT.flush()


def recv():
    line = IN.readline()
    if not line:
        raise RuntimeError("server side closed")
    return line.rstrip("\n").split(" ")


try:
    from impacket.dcerpc.v5 import rpcrt, srvs, wkst, transport
    from impacket.dcerpc.v5.rpcrt import DCERPCException
    from impacket.dcerpc.v5.dtypes import NULL
except Exception as e:  # pragma: no cover - environment dependent
    send("SKIP impacket not importable: %s" % e)
    sys.exit(0)


class PipeError(Exception):
    pass


class FakePipeTransport(transport.DCERPCTransport):
    """What impacket's SMBTransport does, over the line protocol: a plain send is held back
    and paired with the next receive as FSCTL_PIPE_TRANSCEIVE (as smbclient and Windows do);
    a forced write (request fragments) is an SMB2 WRITE; receives are SMB2 READs."""

    def __init__(self, kind, fixture):
        transport.DCERPCTransport.__init__(self, "nas", 445)
        self.kind = kind
        self.fixture = fixture
        self.pending = None
        self.reads = 0
        self.short_reads = 0

    def connect(self):
        send("OPEN %s %s" % (self.kind, self.fixture))
        assert recv() == ["OK"]
        return 1

    def disconnect(self):
        return 1

    def get_socket(self):
        return None

    def send(self, data, forceWriteAndx=0, forceRecv=0):
        if self.pending is not None:
            self._write(self.pending)
            self.pending = None
        if forceWriteAndx:
            self._write(data)
        else:
            self.pending = data

    def _write(self, data):
        send("W " + data.hex())
        r = recv()
        if r[0] != "OK":
            raise PipeError(r[1])
        assert int(r[1]) == len(data), r

    def recv(self, forceRecv=0, count=0):
        max_out = count if count else 65536
        if self.pending is not None:
            send("T %d %s" % (max_out, self.pending.hex()))
            self.pending = None
        else:
            send("R %d" % max_out)
        r = recv()
        if r[0] != "D":
            raise PipeError(r[1])
        self.reads += 1
        if r[1] == "1":
            self.short_reads += 1
        data = bytes.fromhex(r[2]) if len(r) > 2 else b""
        assert len(data) <= max_out
        return data


def open_dce(kind, fixture, iface, transfer_syntax=None):
    t = FakePipeTransport(kind, fixture)
    dce = rpcrt.DCERPC_v5(t)
    dce.connect()
    if transfer_syntax is None:
        dce.bind(iface)
    else:
        dce.bind(iface, transfer_syntax=transfer_syntax)
    return dce, t


def s(x):
    """impacket strings come back with their NUL."""
    return x[:-1] if x.endswith("\x00") else x


STYPE = {"disk": 0, "ipc": 0x80000003}
checks = 0


def check(cond, what):
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1


def expect_fault(fn, needle):
    try:
        fn()
    except DCERPCException as e:
        check(needle in str(e), "expected %r, got %r" % (needle, str(e)))
        return e
    raise AssertionError("expected a fault containing %r" % needle)


def check_entries(got, want, level):
    check(len(got) == len(want), "level %d: %d entries, want %d" % (level, len(got), len(want)))
    for g, w in zip(got, want):
        name, comment, kind, path = w
        check(s(g["shi%d_netname" % level]) == name, "name %r vs %r" % (g["shi%d_netname" % level], name))
        if level in (1, 2, 501, 502, 503):
            check(g["shi%d_type" % level] == STYPE[kind], "type of %s" % name)
            check(s(g["shi%d_remark" % level]) == comment, "remark of %s" % name)
        if level in (2, 502, 503):
            check(s(g["shi%d_path" % level]) == path, "path of %s" % name)
            check(g["shi%d_max_uses" % level] == 0xFFFFFFFF, "max_uses")
            check(g["shi%d_current_uses" % level] == 1, "current_uses")
        if level == 501:
            check(g["shi501_flags"] == 0x10, "flags")
        if level == 503:
            check(s(g["shi503_servername"]) == "*", "servername")


def main():
    first = recv()
    assert first[0] == "FIXTURES"
    fixtures = json.loads(" ".join(first[1:]))
    small = fixtures["small"]

    # --- srvsvc, small list: every level of every call -------------------------------
    dce, t = open_dce("srvsvc", "small", srvs.MSRPC_UUID_SRVS)
    for level in (0, 1, 2, 501, 502, 503):
        resp = srvs.hNetrShareEnum(dce, level)
        check(resp["InfoStruct"]["Level"] == level, "level echoed")
        got = resp["InfoStruct"]["ShareInfo"]["Level%d" % level]["Buffer"]
        check_entries(got, small, level)
        check(resp["TotalEntries"] == len(small), "TotalEntries")
        check(resp["ResumeHandle"] == 0, "ResumeHandle")
    check(t.short_reads > 0, "impacket read headers first, so reads were partial")

    for name, comment, kind, path in small:
        for level in (0, 1, 2, 501, 502, 503, 1004, 1005, 1006):
            resp = srvs.hNetrShareGetInfo(dce, name.upper() + "\x00", level)
            info = resp["InfoStruct"]["ShareInfo%d" % level]
            if level in (0, 1, 2, 501, 502, 503):
                check_entries([info], [(name, comment, kind, path)], level)
            elif level == 1004:
                check(s(info["shi1004_remark"]) == comment, "1004 remark")
            elif level == 1005:
                check(info["shi1005_flags"] == 0x10, "1005 flags")
            else:
                check(info["shi1006_max_uses"] == 0xFFFFFFFF, "1006 max uses")
    e = expect_fault(lambda: srvs.hNetrShareGetInfo(dce, "nosuchshare\x00", 1), "0x906")
    check(e.get_error_code() == 2310, "error code 2310")

    for level in (100, 101, 102):
        resp = srvs.hNetrServerGetInfo(dce, level)
        info = resp["InfoStruct"]["ServerInfo%d" % level]
        check(info["sv%d_platform_id" % level] == 500, "platform id")
        check(s(info["sv%d_name" % level]) == "NAS", "server name")
        if level >= 101:
            check(info["sv%d_version_major" % level] == 10, "version")
            check(info["sv%d_type" % level] == 0x9803, "server type")
            check(s(info["sv%d_comment" % level]) == "smbed nas", "comment")
        if level == 102:
            check(s(info["sv102_userpath"]) == "C:\\", "userpath")

    # Requests in 16-byte fragments, sent as SMB2 WRITEs, reassembled by the pipe.
    dce.set_max_fragment_size(16)
    resp = srvs.hNetrShareEnum(dce, 2)
    check_entries(resp["InfoStruct"]["ShareInfo"]["Level2"]["Buffer"], small, 2)
    dce.set_max_fragment_size(-1)

    # An object UUID in the request header is accepted and ignored.
    req = srvs.NetrShareEnum()
    req["ServerName"] = "\\\\nas\x00"
    req["PreferedMaximumLength"] = 0xFFFFFFFF
    req["ResumeHandle"] = NULL
    req["InfoStruct"]["Level"] = 1
    req["InfoStruct"]["ShareInfo"]["tag"] = 1
    req["InfoStruct"]["ShareInfo"]["Level1"]["Buffer"] = NULL
    resp = dce.request(req, uuid=b"\x11" * 16)
    check_entries(resp["InfoStruct"]["ShareInfo"]["Level1"]["Buffer"], small, 1)

    # Operations we do not serve are faults, and the pipe carries on.
    expect_fault(lambda: srvs.hNetrServerDiskEnum(dce, 0), "nca_s_op_rng_error")
    expect_fault(lambda: srvs.hNetrSessionEnum(dce, NULL, NULL, 10), "nca_s_op_rng_error")
    resp = srvs.hNetrShareEnum(dce, 1)
    check_entries(resp["InfoStruct"]["ShareInfo"]["Level1"]["Buffer"], small, 1)

    # --- NDR64 only: the context is rejected at bind -----------------------------------
    try:
        open_dce("srvsvc", "small", srvs.MSRPC_UUID_SRVS,
                 transfer_syntax=("71710533-BEBA-4937-8319-B5DBEF9CCC36", "1.0"))
        raise AssertionError("NDR64 bind accepted")
    except DCERPCException as e:
        check("proposed_transfer_syntaxes_not_supported" in str(e) or "rejected" in str(e).lower(),
              "NDR64 rejection: %s" % e)

    # --- the wrong interface on a pipe ---------------------------------------------------
    try:
        open_dce("srvsvc", "small", wkst.MSRPC_UUID_WKST)
        raise AssertionError("wkssvc bound on srvsvc")
    except DCERPCException as e:
        check("abstract_syntax_not_supported" in str(e) or "rejected" in str(e).lower(),
              "interface rejection: %s" % e)

    # --- wkssvc --------------------------------------------------------------------------
    dce, t = open_dce("wkssvc", "small", wkst.MSRPC_UUID_WKST)
    resp = wkst.hNetrWkstaGetInfo(dce, 100)
    info = resp["WkstaInfo"]["WkstaInfo100"]
    check(info["wki100_platform_id"] == 500, "wks platform")
    check(s(info["wki100_computername"]) == "NAS", "computername")
    check(s(info["wki100_langroup"]) == "WORKGROUP", "langroup")
    check(info["wki100_ver_major"] == 10 and info["wki100_ver_minor"] == 0, "wks version")
    try:
        wkst.hNetrWkstaGetInfo(dce, 102)
        raise AssertionError("level 102 answered")
    except DCERPCException as e:
        check(e.get_error_code() == 124, "ERROR_INVALID_LEVEL, got %s" % e)

    # --- a long list: one reply in many fragments ----------------------------------------
    many = fixtures["many"]
    dce, t = open_dce("srvsvc", "many", srvs.MSRPC_UUID_SRVS)
    reads = t.reads
    resp = srvs.hNetrShareEnum(dce, 2)
    check_entries(resp["InfoStruct"]["ShareInfo"]["Level2"]["Buffer"], many, 2)
    check(t.reads - reads > 10, "level 2 list came in %d reads" % (t.reads - reads))
    resp = srvs.hNetrShareEnum(dce, 1)
    check_entries(resp["InfoStruct"]["ShareInfo"]["Level1"]["Buffer"], many, 1)

    # --- PreferedMaximumLength: the list comes in pages with ERROR_MORE_DATA -------------
    paged = fixtures["paged"]
    dce, t = open_dce("srvsvc", "paged", srvs.MSRPC_UUID_SRVS)
    names = []
    resume = 0
    pages = 0
    while True:
        req = srvs.NetrShareEnum()
        req["ServerName"] = "\x00"
        req["PreferedMaximumLength"] = 2048
        req["ResumeHandle"] = resume
        req["InfoStruct"]["Level"] = 1
        req["InfoStruct"]["ShareInfo"]["tag"] = 1
        req["InfoStruct"]["ShareInfo"]["Level1"]["Buffer"] = NULL
        resp = dce.request(req, checkError=False)
        pages += 1
        for e in resp["InfoStruct"]["ShareInfo"]["Level1"]["Buffer"]:
            names.append(s(e["shi1_netname"]))
        if resp["ErrorCode"] == 234:
            resume = resp["ResumeHandle"]
            continue
        check(resp["ErrorCode"] == 0, "paging status %d" % resp["ErrorCode"])
        break
    check(pages > 3, "paged in %d pages" % pages)
    check(names == [w[0] for w in paged], "all pages together give the list")

    send("PASS %d" % checks)


if __name__ == "__main__":
    try:
        main()
    except Exception:
        send("FAIL " + traceback.format_exc().replace("\n", " | "))
