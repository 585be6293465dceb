#!/usr/bin/env bash
# tests/interop/pyclient.sh - start a private smbed and run pyclient.py against it.
# Prints pyclient.py's PASS/FAIL lines and its summary `interop pyclient: N passed, M failed`.
# Env: SMBED (binary), PYCLIENT_TIMEOUT (default 600s), PYTHON (default python3), SMBED_KEEP=1 (keep the temp dir).
set -uo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PYTHON=${PYTHON:-python3}

if ! "$PYTHON" -c 'import smbprotocol, smbclient' 2>/dev/null; then
    echo "FAIL setup: python module smbprotocol missing (pip install smbprotocol)"
    echo "interop pyclient: 0 passed, 1 failed"
    exit 1
fi
if ! smbed_start; then
    echo "FAIL start smbed: see messages above"
    echo "interop pyclient: 0 passed, 1 failed"
    exit 1
fi
echo "# smbed pid $SMBED_PID on 127.0.0.1:$SMBED_PORT, dir $SMBED_DIR"
TOKEN="canary-$RANDOM-$RANDOM-$$"
echo "$TOKEN" >"$SMBED_DIR/canary.txt"   # next to share/, outside it

timeout -k 5 "${PYCLIENT_TIMEOUT:-600}" "$PYTHON" "$INTEROP_DIR/pyclient.py" \
    --port "$SMBED_PORT" --user "$SMB_USER1" --password "$SMB_PASS1" --canary-token "$TOKEN"
rc=$?
if [[ $rc -eq 124 || $rc -eq 137 ]]; then
    echo "FAIL pyclient.py: killed after ${PYCLIENT_TIMEOUT:-600}s"
    echo "interop pyclient: 0 passed, 1 failed"
fi
if ! smbed_alive; then
    echo "FAIL server alive: smbed died during the run; log tail: $(tail -n5 "$SMBED_LOG" | tr '\n' ' ')"
    echo "interop pyclient: 0 passed, 1 failed"
    rc=1
fi
exit $rc
