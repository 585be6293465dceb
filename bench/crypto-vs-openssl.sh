#!/usr/bin/env bash
# AES-128-GCM seal of 1 MiB SMB messages (smb-crypto, default backend, i.e. x86-aesni on
# AES-NI machines) against `openssl speed -evp aes-128-gcm -bytes 16384`, measured in the
# same run, alternating ROUNDS times so that load from other processes hits both alike.
# Prints each measurement, the medians and the ratio (target: >= 0.8).
#
# Usage: bench/crypto-vs-openssl.sh [ROUNDS [SECONDS [BACKEND]]]   (default 5 3 default)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
rounds=${1:-5}
secs=${2:-3}
backend=${3:-default}
cargo build -q --release -p smbed-bench --bin crypto_speed
bin="$CARGO_TARGET_DIR/release/crypto_speed"
echo "openssl: $(openssl version)"
ours=()
theirs=()
for _ in $(seq "$rounds"); do
    line=$("$bin" seal-aes128gcm "$backend" $((1 << 20)) "$secs")
    echo "smb-crypto: $line"
    ours+=("$(sed -E 's/.*bytes_per_sec=([0-9]+).*/\1/' <<<"$line")")
    o=$(openssl speed -evp aes-128-gcm -bytes 16384 -seconds "$secs" 2>/dev/null | tail -1)
    echo "openssl:    $o"
    # "AES-128-GCM  6621528.58k": thousands of bytes per second.
    theirs+=("$(awk '{v=$NF; sub(/k$/, "", v); printf "%.0f", v * 1000}' <<<"$o")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
m_ours=$(median "${ours[@]}")
m_theirs=$(median "${theirs[@]}")
awk -v a="$m_ours" -v b="$m_theirs" 'BEGIN{
    printf "median: smb-crypto %.0f MB/s, openssl %.0f MB/s, ratio %.2f (target >= 0.8)\n",
        a / 1e6, b / 1e6, a / b }'
