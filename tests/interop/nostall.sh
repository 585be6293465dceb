#!/usr/bin/env bash
# tests/interop/nostall.sh - a slow disk must not stall other clients (issue: no stalls).
# Starts a private smbed whose reads of files named *slow* take NOSTALL_DELAY_MS (default
# 2000) more on its I/O threads (SMBED_TEST_SLOW_READS, see platform/src/iopool.rs), then runs
# nostall.py: while one client waits for such a read, another client's ECHOs and 64 KiB READs
# must keep completing with p99 latency under 50 ms; signed and encrypted sessions.
# Prints PASS/FAIL lines and `interop nostall: N passed, M failed`.
# Env: SMBED (binary), PYTHON (default python3), NOSTALL_DELAY_MS.
set -uo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PYTHON=${PYTHON:-python3}
DELAY=${NOSTALL_DELAY_MS:-2000}

if ! "$PYTHON" -c 'import smbprotocol' 2>/dev/null; then
    echo "FAIL setup: python module smbprotocol missing (pip install smbprotocol)"
    echo "interop nostall: 0 passed, 1 failed"
    exit 1
fi
export SMBED_TEST_SLOW_READS="slow:$DELAY"
if ! smbed_start; then
    echo "FAIL start smbed: see messages above"
    echo "interop nostall: 0 passed, 1 failed"
    exit 1
fi
unset SMBED_TEST_SLOW_READS
head -c $((4 << 20)) /dev/urandom >"$SMBED_SHARE_DIR/slow.bin"
head -c 65536 /dev/urandom >"$SMBED_SHARE_DIR/fast.bin"
echo "# smbed pid $SMBED_PID on 127.0.0.1:$SMBED_PORT, slow reads +$DELAY ms"
timeout -k 5 120 "$PYTHON" "$INTEROP_DIR/nostall.py" --port "$SMBED_PORT" \
    --user "$SMB_USER1" --password "$SMB_PASS1" \
    --slow-file "$SMBED_SHARE_DIR/slow.bin" --delay-ms "$DELAY"
rc=$?
if ! grep -q "test fault injection" "$SMBED_LOG"; then
    echo "FAIL fault injection: smbed did not report SMBED_TEST_SLOW_READS"
    rc=1
fi
if ! smbed_alive; then
    echo "FAIL server alive: smbed died; log tail: $(tail -n5 "$SMBED_LOG" | tr '\n' ' ')"
    rc=1
fi
exit $rc
