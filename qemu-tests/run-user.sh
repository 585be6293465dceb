#!/usr/bin/env bash
# Runs the workspace's core tests (smb-wire, smb-crypto, smb-auth, smb-proto,
# tdb) cross-compiled for aarch64 and armv7, under qemu-user, once per board
# CPU model (boards/*/board.toml `qemu_cpu`). Builds once per target; the
# per-model runs only re-execute the test binaries with another QEMU_CPU
# (cargo does not rebuild for an environment change).
#
# Usage: qemu-tests/run-user.sh [--quick] [--list] [BOARD...]
#   default  every crate on every CPU model (~4 min cold on 2 cores)
#   --quick  only the CPU-sensitive crates (no tdb)
#   BOARD    only rows whose board name is given (e.g. rpi5 generic-armv7)
# Environment: CARGO_TARGET_DIR as usual; QEMU_TESTS_PROFILE (cargo profile,
# default "qemu" from .cargo/config.toml: the test profile at opt-level 1);
# QEMU_TESTS_TIMEOUT (seconds per
# cargo invocation, default 900); QEMU_TESTS_LOGDIR (default
# $CARGO_TARGET_DIR/qemu-tests-logs); TDB_CRASH_ITERS / TDB_MODEL_CASES /
# TDB_FAULT_ITERS override the reduced iteration counts used here.
#
# Needs (Debian): gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf
# libc6-dev-arm64-cross libc6-dev-armhf-cross qemu-user-static. It installs
# nothing itself except the three Rust std targets (rustup target add).
# Exit status: 0 all passed, 1 a test/build failed, 2 prerequisites missing.
set -u -o pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2

mode=full
only=()
list=0
for a in "$@"; do
    case "$a" in
        --full) mode=full ;;  # the default; kept for compatibility
        --quick) mode=quick ;;
        --list) list=1 ;;
        -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$root/qemu-tests/run-user.sh"; exit 0 ;;
        -*) echo "run-user.sh: unknown option $a" >&2; exit 2 ;;
        *) only+=("$a") ;;
    esac
done

# --- What runs -------------------------------------------------------------
# The CPU-sensitive crates: crypto (AES/GCM/CCM/CMAC paths chosen from
# AT_HWCAP at run time), wire parsing (alignment, 32-bit usize), NTLM
# (MD4/MD5/HMAC/RC4) and the engine (signing/sealing end to end).
QUICK=(-p smb-wire -p smb-crypto -p smb-auth -p smb-proto)
# Plus tdb with its real file backend (pwrite/fdatasync/fallocate through
# rustix: 64-bit offsets on 32-bit ARM, syscalls through qemu-user).
FULL=("${QUICK[@]}" -p tdb --features tdb/file)

# Cargo profile: "qemu" (.cargo/config.toml) is the test profile with
# opt-level 1, ~10x faster under emulation than opt-level 0, with debug
# assertions and overflow checks still on.
PROFILE=(--profile "${QEMU_TESTS_PROFILE:-qemu}")

# tdb's randomized tests default to thousands of iterations, tuned for the
# native run. Their only CPU-dependent code is crc32fast's CRC32 path (in
# every aarch64 model here), so repeating the
# deep random search on 8 emulated models adds time (about +15 s per model
# with the qemu profile, +2 min in all) but little coverage: a few hundred
# iterations still run every code path on each architecture. Explicit
# settings in the environment win.
export TDB_CRASH_ITERS="${TDB_CRASH_ITERS:-400}"
export TDB_MODEL_CASES="${TDB_MODEL_CASES:-100}"
export TDB_FAULT_ITERS="${TDB_FAULT_ITERS:-150}"

# Rows: board | label ("" = board) | target override ("" = board's target) |
#       CPU suffix appended to the board's qemu_cpu.
ROWS=(
    "rpi4|||"
    "rpi3|||"
    "rpi5|||"
    "qemu-virt-aarch64|||"
    # The shipped fully static aarch64 binary: musl libc, rust-lld.
    "rpi5|rpi5 (musl)|aarch64-unknown-linux-musl|"
    "generic-armv7|||"
    # ARMv7 without NEON (some Cortex-A9/A5 boards): NEON instructions trap,
    # AT_HWCAP has no NEON bit, so only the portable paths may run.
    "generic-armv7|generic-armv7 (no NEON)||,neon=off"
    "qemu-virt-armv7|||"
)

# --- Helpers ---------------------------------------------------------------
board_value() { # board key -> string value from boards/<board>/board.toml (top level)
    awk -v k="$2" '/^[ \t]*\[/ { exit }
        { eq = index($0, "="); if (!eq) next; key = substr($0, 1, eq - 1); gsub(/[ \t]/, "", key)
          if (key == k) { v = substr($0, eq + 1); sub(/^[ \t]*"/, "", v); sub(/".*$/, "", v); print v; exit } }' \
        "$root/boards/$1/board.toml"
}
now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
ld_prefix() { # target -> sysroot for dynamically linked binaries
    case "$1" in
        aarch64-unknown-linux-gnu) echo /usr/aarch64-linux-gnu ;;
        armv7-unknown-linux-gnueabihf) echo /usr/arm-linux-gnueabihf ;;
        *) echo "" ;;
    esac
}
table() { # '|'-separated rows on stdin -> aligned columns (no dependency on column(1))
    awk -F'|' '{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) }
                 if (NF > n) n = NF; rows = NR }
        END { for (r = 1; r <= rows; r++) { line = ""
                for (i = 1; i <= n; i++) line = line sprintf(i < n ? "%-" w[i] "s  " : "%s", c[r, i])
                print line } }'
}
qemu_arch() { case "$1" in aarch64-*) echo aarch64 ;; armv7-*) echo arm ;; esac; }

# Expand rows into: board|label|target|cpu|set (after filters).
plan=()
for r in "${ROWS[@]}"; do
    IFS='|' read -r b label tgt cpusfx <<< "$r"
    if [ ${#only[@]} -gt 0 ] && [[ " ${only[*]} " != *" $b "* ]]; then continue; fi
    [ -f "$root/boards/$b/board.toml" ] || { echo "run-user.sh: boards/$b/board.toml missing" >&2; exit 2; }
    [ -n "$tgt" ] || tgt=$(board_value "$b" target)
    cpu="$(board_value "$b" qemu_cpu)$cpusfx"
    plan+=("$b|${label:-$b}|$tgt|$cpu|$mode")
done
if [ ${#plan[@]} -eq 0 ]; then echo "run-user.sh: nothing selected" >&2; exit 2; fi
if [ $list = 1 ]; then printf '%s\n' "${plan[@]}" | cut -d'|' -f2- | table; exit 0; fi

# Targets needed, and whether each needs the full set built.
declare -A need=()
for p in "${plan[@]}"; do
    IFS='|' read -r _ _ tgt _ set <<< "$p"
    if [ "$set" = full ] || [ -z "${need[$tgt]:-}" ]; then need[$tgt]=$set; fi
done

# --- Prerequisites -----------------------------------------------------------
missing=()
for t in "${!need[@]}"; do
    case "$t" in
        aarch64-unknown-linux-gnu)
            command -v aarch64-linux-gnu-gcc >/dev/null || missing+=("aarch64-linux-gnu-gcc (gcc-aarch64-linux-gnu)")
            [ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] || missing+=("/usr/aarch64-linux-gnu/lib (libc6-dev-arm64-cross)")
            command -v qemu-aarch64-static >/dev/null || missing+=("qemu-aarch64-static (qemu-user-static)") ;;
        aarch64-unknown-linux-musl)
            command -v qemu-aarch64-static >/dev/null || missing+=("qemu-aarch64-static (qemu-user-static)") ;;
        armv7-unknown-linux-gnueabihf)
            command -v arm-linux-gnueabihf-gcc >/dev/null || missing+=("arm-linux-gnueabihf-gcc (gcc-arm-linux-gnueabihf)")
            [ -e /usr/arm-linux-gnueabihf/lib/libc.a ] || missing+=("/usr/arm-linux-gnueabihf/lib/libc.a (libc6-dev-armhf-cross, needed by +crt-static)")
            command -v qemu-arm-static >/dev/null || missing+=("qemu-arm-static (qemu-user-static)") ;;
    esac
done
command -v cargo >/dev/null || missing+=("cargo (rustup)")
if [ ${#missing[@]} -gt 0 ]; then
    echo "run-user.sh: missing prerequisites:" >&2
    printf '%s\n' "${missing[@]}" | sort -u | sed 's/^/  - /' >&2
    echo "Install them with (Debian/Ubuntu, as root):" >&2
    echo "  apt-get install -y gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf libc6-dev-arm64-cross libc6-dev-armhf-cross qemu-user-static" >&2
    exit 2
fi

# Rust standard libraries for the targets (the only thing installed here).
for t in "${!need[@]}"; do
    if [ ! -d "$(rustc --print sysroot)/lib/rustlib/$t/lib" ]; then
        if command -v rustup >/dev/null; then
            echo "run-user.sh: rustup target add $t"
            rustup target add "$t" || { echo "run-user.sh: could not add Rust target $t" >&2; exit 2; }
        else
            echo "run-user.sh: Rust std for $t is missing and rustup is not available" >&2
            exit 2
        fi
    fi
done

# Logs live beside the build they belong to, so concurrent runs with
# different CARGO_TARGET_DIRs (CI, several developers) never mix logs.
logdir=${QEMU_TESTS_LOGDIR:-${CARGO_TARGET_DIR:-$root/target}/qemu-tests-logs}
mkdir -p "$logdir"
tmo=${QEMU_TESTS_TIMEOUT:-900}
t_start=$(now)
status=0
echo "run-user.sh: $(qemu-aarch64-static --version 2>/dev/null | head -n 1); logs in $logdir"

# --- Board profiles ------------------------------------------------------------
if ! "$root/boards/check.sh"; then status=1; fi

# --- Build once per target ---------------------------------------------------
declare -A built=() build_secs=()
for t in "${!need[@]}"; do
    if [ "${need[$t]}" = full ]; then sel=("${FULL[@]}"); else sel=("${QUICK[@]}"); fi
    echo "== build $t (${need[$t]} set)"
    t0=$(now)
    if timeout -k 10 "$tmo" cargo test "${PROFILE[@]}" --target "$t" --no-run "${sel[@]}" > "$logdir/build-$t.log" 2>&1; then
        built[$t]=1
    else
        built[$t]=0
        status=1
        echo "   build FAILED, see $logdir/build-$t.log:" >&2
        grep -E '^error' -A5 "$logdir/build-$t.log" | head -n 20 >&2
    fi
    build_secs[$t]=$(elapsed "$t0")
    echo "   ${build_secs[$t]} s"
done

# --- Run per CPU model -----------------------------------------------------------
results=()
for p in "${plan[@]}"; do
    IFS='|' read -r b label tgt cpu set <<< "$p"
    if [ "$set" = full ]; then sel=("${FULL[@]}"); else sel=("${QUICK[@]}"); fi
    if [ "${built[$tgt]}" != 1 ]; then
        results+=("$label|$tgt|$cpu|$set|-|-|-|0.0|BUILD FAILED")
        continue
    fi
    # Tests that cannot work under qemu-user:
    # - tdb kill9_parent re-executes its own test binary (current_exe) as a
    #   child and SIGKILLs it. The host kernel can only start an ARM binary
    #   through a binfmt_misc registration of qemu-user, which containers
    #   and CI machines usually lack (then exec fails and the test reports
    #   "child produced no acknowledgements"). Skipped unless the
    #   registration exists; the test runs natively on x86_64 CI.
    skips=()
    qa=$(qemu_arch "$tgt")
    if [ "$set" = full ] && ! grep -qs '^enabled' "/proc/sys/fs/binfmt_misc/qemu-$qa"; then
        skips+=(--skip kill9_parent)
    fi
    safe=$(printf '%s' "$label-$tgt-$cpu" | tr -c 'A-Za-z0-9._-' '_')
    log="$logdir/test-$safe.log"
    echo "== $label  $tgt  QEMU_CPU=$cpu  ($set set${skips:+, skipping kill9_parent: no binfmt_misc})"
    t0=$(now)
    QEMU_CPU="$cpu" QEMU_LD_PREFIX="$(ld_prefix "$tgt")" \
        timeout -k 10 "$tmo" cargo test "${PROFILE[@]}" --target "$tgt" --no-fail-fast "${sel[@]}" -- "${skips[@]}" \
        > "$log" 2>&1
    rc=$?
    secs=$(elapsed "$t0")
    read -r passed failed ignored < <(awk '/^test result:/ {
            for (i = 1; i <= NF; i++) {
                if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) g += $i } }
        END { print p + 0, f + 0, g + 0 }' "$log")
    if [ $rc -eq 0 ]; then
        st=ok
    else
        status=1
        if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then st="TIMEOUT (${tmo}s)"
        elif sig=$(grep -aoE 'signal: [0-9]+, SIG[A-Z]+' "$log" | head -n 1) && [ -n "$sig" ]; then st="CRASH (${sig#signal: })"
        elif [ "$failed" -gt 0 ]; then st=FAILED
        else st="ERROR (rc $rc)"; fi
        grep -aE '^test .* FAILED$|^error|panicked at|signal: ' "$log" | sort -u | head -n 15 | sed 's/^/   /' >&2
    fi
    if grep -aq '^ *Compiling ' "$log"; then
        echo "   note: this run recompiled something (see $log)" >&2
    fi
    echo "   $st: $passed passed, $failed failed, $ignored ignored, $secs s"
    results+=("$label|$tgt|$cpu|$set|$passed|$failed|$ignored|$secs|$st")
done

# --- Summary -------------------------------------------------------------------
echo
echo "Summary (qemu-user, profile ${PROFILE[1]}; tdb iterations: crash $TDB_CRASH_ITERS, model $TDB_MODEL_CASES, faults $TDB_FAULT_ITERS)"
{
    echo "board|target|QEMU_CPU|crates|passed|failed|ignored|seconds|result"
    for t in "${!need[@]}"; do
        echo "(build)|$t|-|${need[$t]}|-|-|-|${build_secs[$t]}|$([ "${built[$t]}" = 1 ] && echo ok || echo FAILED)"
    done
    printf '%s\n' "${results[@]}"
} | table
echo "total: $(elapsed "$t_start") s"
exit $status
