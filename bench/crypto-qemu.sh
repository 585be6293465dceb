#!/usr/bin/env bash
# smb-crypto on the boards' CPUs, under qemu-user.
#
# 1. Tests: cross-builds smb-crypto's tests (unit tests, known answers, differential tests of
#    every backend against the portable one, backend selection) and runs them under
#      aarch64: QEMU_CPU=cortex-a76 (Pi 5), QEMU_CPU=cortex-a72,neon=off,vfp=off (Pi 3/4)
#      armv7:   QEMU_CPU=cortex-a7, QEMU_CPU=cortex-a7,neon=off, QEMU_CPU=cortex-a15
#    and natively (x86_64).
# 2. Instruction counts: builds the qemu-icount TCG plugin (bench/qemu-icount/) and the static
#    bench binary `crypto_icount`, then prints instructions per byte of each aarch64 backend on
#    the Pi-4-like and the Pi 5 CPU models, and of the armv7 backends on QEMU_CPU=cortex-a7,
#    as a ratio to the portable (RustCrypto) path measured in the same run, and checks targets:
#    Pi-4-like (aarch64-neon): AES-128-GCM <= 0.5, AES-GMAC signing <= 0.25, AES-128-CCM <= 0.6;
#    cortex-a7 (armv7-neon):   AES-128-GCM <= 0.5, AES-GMAC signing <= 0.3, AES-128-CCM <= 0.7.
#
# Usage: bench/crypto-qemu.sh [--tests-only | --icount-only]
# Env:   CARGO_TARGET_DIR (default: target), SMB_CRYPTO_DIFF_ITERS (random lengths per
#        differential test, default 40), ICOUNT_LEN (bytes per measurement, default 65536).
# Needs: rustup targets aarch64-unknown-linux-gnu, aarch64-unknown-linux-musl,
#        armv7-unknown-linux-gnueabihf; gcc-aarch64-linux-gnu, gcc-arm-linux-gnueabihf,
#        qemu-user-static (tests, via the runners in .cargo/config.toml), and for the counts
#        qemu-user (dynamic qemu-aarch64 / qemu-arm: plugins) and gcc.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
mode=${1:-all}

PI4='cortex-a72,neon=off,vfp=off'
PI5='cortex-a76'

run_tests() {
    # Optimised tests: the NEON code is ~50x slower unoptimised under emulation.
    export CARGO_PROFILE_TEST_OPT_LEVEL=2
    local target cpu log fail=0
    log=$(mktemp)
    echo "### native ($(uname -m))"
    if cargo test -q -p smb-crypto -- --nocapture >"$log" 2>&1; then
        grep -E '^test result|QEMU_CPU=|accelerated backends' "$log" || true
    else
        grep -E '^test result|FAILED|panicked' "$log" || true
        echo "FAILED natively"
        fail=1
    fi
    for target in aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf; do
        cargo test -q -p smb-crypto --target "$target" --no-run
        if [ "$target" = aarch64-unknown-linux-gnu ]; then
            cpus=("$PI5" "$PI4")
        else
            cpus=(cortex-a7 'cortex-a7,neon=off' cortex-a15)
        fi
        for cpu in "${cpus[@]}"; do
            echo "### $target QEMU_CPU=$cpu"
            if QEMU_CPU="$cpu" cargo test -q -p smb-crypto --target "$target" \
                -- --nocapture >"$log" 2>&1; then
                grep -E '^test result|QEMU_CPU=|accelerated backends' "$log" || true
            else
                grep -E '^test result|QEMU_CPU=|FAILED|panicked' "$log" || true
                echo "FAILED under QEMU_CPU=$cpu"
                fail=1
            fi
        done
    done
    rm -f "$log"
    return $fail
}

run_icount() {
    local qemu
    for qemu in qemu-aarch64 qemu-arm; do
        command -v "$qemu" >/dev/null || {
            echo "$qemu (package qemu-user) is needed for the TCG plugin" >&2
            return 1
        }
    done
    local plugdir="$CARGO_TARGET_DIR/qemu-icount"
    bench/qemu-icount/build.sh "$plugdir" >/dev/null
    local plugin="$plugdir/libicount.so"
    # Static binaries: musl on aarch64, glibc + crt-static (.cargo/config.toml) on armv7.
    local a64=aarch64-unknown-linux-musl a32=armv7-unknown-linux-gnueabihf
    cargo build -q --release -p smbed-bench --bin crypto_icount --target "$a64"
    cargo build -q --release -p smbed-bench --bin crypto_icount --target "$a32"
    local len=${ICOUNT_LEN:-65536}
    local small=64
    local out
    out=$(mktemp)

    # count QEMU CPU OP BACKEND LEN -> "total aes pmull", or "-" if the backend is unavailable.
    count() {
        local bin
        if [ "$1" = qemu-arm ]; then
            bin="$CARGO_TARGET_DIR/$a32/release/crypto_icount"
        else
            bin="$CARGO_TARGET_DIR/$a64/release/crypto_icount"
        fi
        rm -f "$out"
        if ! QEMU_CPU="$2" "$1" -plugin "$plugin,out=$out" -d plugin \
            "$bin" "$3" "$4" "$5" >/dev/null 2>&1; then
            echo "-"
            return
        fi
        sed -E 's/.*total=([0-9]+).*aes=([0-9]+) pmull=([0-9]+).*/\1 \2 \3/' "$out"
    }

    local status=0
    # One row per CPU model: qemu binary, QEMU_CPU, backends (portable first), the backend
    # whose ratios are checked, and its limits for gcm, gmac, ccm.
    local rows=(
        "qemu-aarch64|$PI4|portable armv8-crypto aarch64-neon|aarch64-neon|0.5 0.25 0.6"
        "qemu-aarch64|$PI5|portable armv8-crypto aarch64-neon|-|- - -"
        "qemu-arm|cortex-a7|portable armv7-neon|armv7-neon|0.5 0.3 0.7"
    )
    local row
    for row in "${rows[@]}"; do
        local qemu cpu backends checked limits
        IFS='|' read -r qemu cpu backends checked limits <<<"$row"
        local lim_gcm lim_gmac lim_ccm
        read -r lim_gcm lim_gmac lim_ccm <<<"$limits"
        echo
        echo "### instructions per byte, $qemu QEMU_CPU=$cpu, $len-byte messages"
        echo "### (marginal: (count(64 + $len) - count(64)) / $len; ratio = backend / portable)"
        printf '%-8s %-14s %10s %8s %10s %10s\n' op backend instr/B ratio aes/B pmull/B
        for op in gcm gmac ccm cmac gcm256 ccm256; do
            local portable=""
            for be in $backends; do
                local a b
                a=$(count "$qemu" "$cpu" "$op" "$be" "$small")
                [ "$a" = "-" ] && continue
                b=$(count "$qemu" "$cpu" "$op" "$be" $((small + len)))
                read -r ta aa pa <<<"$a"
                read -r tb ab pb <<<"$b"
                local ipb ratio aesb pmb
                ipb=$(awk -v x="$ta" -v y="$tb" -v n="$len" 'BEGIN{printf "%.2f", (y-x)/n}')
                aesb=$(awk -v x="$aa" -v y="$ab" -v n="$len" 'BEGIN{printf "%.3f", (y-x)/n}')
                pmb=$(awk -v x="$pa" -v y="$pb" -v n="$len" 'BEGIN{printf "%.3f", (y-x)/n}')
                # The plugin recognises AArch64 AES/PMULL encodings only.
                if [ "$qemu" = qemu-arm ]; then
                    aesb=-
                    pmb=-
                fi
                [ "$be" = portable ] && portable=$ipb
                ratio=$(awk -v x="$ipb" -v p="$portable" 'BEGIN{printf "%.3f", x/p}')
                printf '%-8s %-14s %10s %8s %10s %10s\n' "$op" "$be" "$ipb" "$ratio" "$aesb" "$pmb"
                if [ "$be" = "$checked" ]; then
                    local limit=""
                    case $op in
                        gcm) limit=$lim_gcm ;;
                        gmac) limit=$lim_gmac ;;
                        ccm) limit=$lim_ccm ;;
                    esac
                    if [ -n "$limit" ]; then
                        if awk -v r="$ratio" -v l="$limit" 'BEGIN{exit !(r <= l)}'; then
                            echo "         target ratio <= $limit: PASS"
                        else
                            echo "         target ratio <= $limit: FAIL"
                            status=1
                        fi
                    fi
                fi
            done
        done
    done
    rm -f "$out"
    return $status
}

case $mode in
    --tests-only) run_tests ;;
    --icount-only) run_icount ;;
    all)
        rc=0
        run_tests || rc=1
        run_icount || rc=1
        exit $rc
        ;;
    *)
        echo "usage: $0 [--tests-only | --icount-only]" >&2
        exit 2
        ;;
esac
