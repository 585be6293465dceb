#!/usr/bin/env bash
# tests/interop/run.sh - all interoperability tests against a private smbed on 127.0.0.1:
#   1. smbclient.sh  Samba's smbclient: dialects x signing/encryption, big files, escapes
#   2. pyclient.sh   Python smbprotocol (SMB 3.1.1, signed and encrypted)
#   3. torture.sh    smbtorture leaf tests compared with torture-expected.txt
#   4. nostall.sh    a slow disk (injected delay) does not stall other clients
# Prints every check, then the summary lines; exits 1 if any part failed.
#
# Env: SMBED=path/to/smbed (default: $CARGO_TARGET_DIR or target, debug or release),
#      INTEROP_ONLY="smbclient pyclient torture nostall" (a subset), and the knobs of each
#      script.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")" || exit 1
# shellcheck source=lib.sh
source ./lib.sh
export SMBED=${SMBED:-$(smbed_default_binary)}
[[ $SMBED == /* ]] || SMBED=$(cd "$REPO_ROOT" && realpath "$SMBED")
if [[ ! -x $SMBED ]]; then
    echo "run.sh: smbed binary $SMBED not found; build it or set SMBED" >&2
    exit 1
fi
echo "# interop: $SMBED"

ONLY=${INTEROP_ONLY:-smbclient pyclient torture nostall}
SUMMARIES=()
FAILED=()
for part in $ONLY; do
    echo "=== $part"
    t0=$SECONDS
    log=$(mktemp)
    bash "./$part.sh" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    summary=$(grep -E "^interop $part: " "$log" | tail -n1)
    rm -f "$log"
    [[ -z $summary ]] && summary="interop $part: no summary (exit status $rc)"
    SUMMARIES+=("$summary  [$((SECONDS - t0))s]")
    [[ $rc -ne 0 ]] && FAILED+=("$part")
done
echo "=== summary"
printf '%s\n' "${SUMMARIES[@]}"
if [[ ${#FAILED[@]} -gt 0 ]]; then
    echo "interop: FAILED (${FAILED[*]})"
    exit 1
fi
echo "interop: all passed"
