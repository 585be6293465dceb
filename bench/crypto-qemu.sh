#!/usr/bin/env bash
# smb-crypto on the boards' CPUs, under qemu-user.
#
# 1. Tests: cross-builds smb-crypto's tests (unit tests, known answers, differential tests of
#    every backend against the portable one, backend selection) and runs them under
#      aarch64: QEMU_CPU=cortex-a76 (Pi 5), QEMU_CPU=cortex-a72,neon=off,vfp=off (Pi 3/4)
#      armv7:   QEMU_CPU=cortex-a7, QEMU_CPU=cortex-a7,neon=off
#    and natively (x86_64).
# 2. Instruction counts: builds the qemu-icount TCG plugin (bench/qemu-icount/) and the static
#    bench binary `crypto_icount`, then prints instructions per byte of each aarch64 backend on
#    the Pi-4-like and the Pi 5 CPU models, as a ratio to the portable (RustCrypto) path
#    measured in the same run, and checks the targets on the Pi-4-like model:
#    AES-128-GCM <= 0.5, AES-GMAC signing <= 0.25, AES-128-CCM <= 0.6.
#
# Usage: bench/crypto-qemu.sh [--tests-only | --icount-only]
# Env:   CARGO_TARGET_DIR (default: target), SMB_CRYPTO_DIFF_ITERS (random lengths per
#        differential test, default 40), ICOUNT_LEN (bytes per measurement, default 65536).
# Needs: rustup targets aarch64-unknown-linux-gnu, aarch64-unknown-linux-musl,
#        armv7-unknown-linux-gnueabihf; gcc-aarch64-linux-gnu, gcc-arm-linux-gnueabihf,
#        qemu-user-static (tests, via the runners in .cargo/config.toml), and for the counts
#        qemu-user (dynamic qemu-aarch64: plugins) and gcc.
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
            cpus=(cortex-a7 'cortex-a7,neon=off')
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
    command -v qemu-aarch64 >/dev/null || {
        echo "qemu-aarch64 (package qemu-user) is needed for the TCG plugin" >&2
        return 1
    }
    local plugdir="$CARGO_TARGET_DIR/qemu-icount"
    bench/qemu-icount/build.sh "$plugdir" >/dev/null
    local plugin="$plugdir/libicount.so"
    local target=aarch64-unknown-linux-musl
    cargo build -q --release -p smbed-bench --bin crypto_icount --target "$target"
    local bin="$CARGO_TARGET_DIR/$target/release/crypto_icount"
    local len=${ICOUNT_LEN:-65536}
    local small=64
    local out
    out=$(mktemp)

    # count CPU OP BACKEND LEN -> "total aes pmull", or "-" if the backend is unavailable.
    count() {
        rm -f "$out"
        if ! QEMU_CPU="$1" qemu-aarch64 -plugin "$plugin,out=$out" -d plugin \
            "$bin" "$2" "$3" "$4" >/dev/null 2>&1; then
            echo "-"
            return
        fi
        sed -E 's/.*total=([0-9]+).*aes=([0-9]+) pmull=([0-9]+).*/\1 \2 \3/' "$out"
    }

    local status=0
    for cpu in "$PI4" "$PI5"; do
        echo
        echo "### instructions per byte, QEMU_CPU=$cpu, $len-byte messages"
        echo "### (marginal: (count(64 + $len) - count(64)) / $len; ratio = backend / portable)"
        printf '%-8s %-14s %10s %8s %10s %10s\n' op backend instr/B ratio aes/B pmull/B
        for op in gcm gmac ccm cmac gcm256 ccm256; do
            local portable=""
            for be in portable armv8-crypto aarch64-neon; do
                local a b
                a=$(count "$cpu" "$op" "$be" "$small")
                [ "$a" = "-" ] && continue
                b=$(count "$cpu" "$op" "$be" $((small + len)))
                read -r ta aa pa <<<"$a"
                read -r tb ab pb <<<"$b"
                local ipb ratio aesb pmb
                ipb=$(awk -v x="$ta" -v y="$tb" -v n="$len" 'BEGIN{printf "%.2f", (y-x)/n}')
                aesb=$(awk -v x="$aa" -v y="$ab" -v n="$len" 'BEGIN{printf "%.3f", (y-x)/n}')
                pmb=$(awk -v x="$pa" -v y="$pb" -v n="$len" 'BEGIN{printf "%.3f", (y-x)/n}')
                [ "$be" = portable ] && portable=$ipb
                ratio=$(awk -v x="$ipb" -v p="$portable" 'BEGIN{printf "%.3f", x/p}')
                printf '%-8s %-14s %10s %8s %10s %10s\n' "$op" "$be" "$ipb" "$ratio" "$aesb" "$pmb"
                if [ "$cpu" = "$PI4" ] && [ "$be" = aarch64-neon ]; then
                    local limit=""
                    case $op in
                        gcm) limit=0.5 ;;
                        gmac) limit=0.25 ;;
                        ccm) limit=0.6 ;;
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
