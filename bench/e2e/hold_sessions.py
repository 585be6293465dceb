#!/usr/bin/env python3
"""hold_sessions.py - open N idle signed SMB 3.1.1 sessions (connection + session setup +
tree connect each) to //HOST/SHARE and hold them until stdin reaches EOF, then log off.

Used by compare.sh for the memory test. One Python process holds every session, so the
client maps none of Samba's shared libraries (50 smbclient processes would, and would take
a share of those pages' PSS away from the Samba server being measured).

  python3 hold_sessions.py --port 4455 --user U --password P -n 50 < fifo

Prints "ready N" once N sessions are up (or "failed I: error" lines and "ready K" with the
number that made it), flushes, and waits.
"""
import argparse
import sys
import uuid

from smbprotocol.connection import Connection
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--share", default="share")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("-n", type=int, default=50)
    a = ap.parse_args()

    held = []
    for i in range(a.n):
        try:
            # signed: with require_signing=False, Samba 4.17 answers smbprotocol's unsigned
            # TREE_CONNECT with ACCESS_DENIED (smbclient --client-protection=off is accepted)
            conn = Connection(uuid.uuid4(), a.host, a.port, require_signing=True)
            conn.connect(timeout=30)
            sess = Session(conn, a.user, a.password, require_encryption=False)
            sess.connect()
            tree = TreeConnect(sess, rf"\\{a.host}\{a.share}")
            tree.connect()
            held.append((conn, sess, tree))
        except Exception as e:  # report and go on: the caller counts the sessions that are up
            print(f"failed {i}: {type(e).__name__}: {e}", flush=True)
    print(f"ready {len(held)}", flush=True)
    sys.stdin.read()  # idle until the caller closes our stdin
    for conn, sess, tree in held:
        try:
            tree.disconnect()
            sess.disconnect()
            conn.disconnect(True)
        except Exception:
            pass


if __name__ == "__main__":
    main()
