#!/usr/bin/env bash
# Builds the `smbed` binary with the release profile for every shipped target
# and prints its size (the profile strips; the size is what lands on the
# board), whether it is static, and the build time. Not run by CI: each
# target is a fat-LTO, codegen-units=1 build (minutes each on 2 cores).
#
# Usage: qemu-tests/release-sizes.sh [--opt-levels "3 s z"] [TARGET...]
#   TARGET        default: aarch64-unknown-linux-gnu aarch64-unknown-linux-musl
#                 armv7-unknown-linux-gnueabihf x86_64-unknown-linux-gnu
#   --opt-levels  build once per listed opt-level (through the
#                 CARGO_PROFILE_RELEASE_OPT_LEVEL override; Cargo.toml is not
#                 touched) to compare sizes. Each level gets its own target
#                 directory under $CARGO_TARGET_DIR/release-sizes/ so the
#                 levels do not rebuild each other.
# Also runs `smbed --version` (or --help) under qemu-user for the ARM
# targets as a smoke test that the binary starts.
set -u -o pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2

levels=""
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --opt-levels) levels=$2; shift 2 ;;
        -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$root/qemu-tests/release-sizes.sh"; exit 0 ;;
        -*) echo "release-sizes.sh: unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(aarch64-unknown-linux-gnu aarch64-unknown-linux-musl
    armv7-unknown-linux-gnueabihf x86_64-unknown-linux-gnu)

base=${CARGO_TARGET_DIR:-$root/target}
now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }'; }
runner() {
    case "$1" in
        aarch64-unknown-linux-gnu) echo "qemu-aarch64-static -L /usr/aarch64-linux-gnu" ;;
        aarch64-unknown-linux-musl) echo "qemu-aarch64-static" ;;
        armv7-unknown-linux-gnueabihf) echo "qemu-arm-static -L /usr/arm-linux-gnueabihf" ;;
        *) echo "" ;;
    esac
}

for t in "${targets[@]}"; do
    if [ ! -d "$(rustc --print sysroot)/lib/rustlib/$t/lib" ] && command -v rustup >/dev/null; then
        rustup target add "$t" || exit 2
    fi
done

# Logs live beside the build they belong to, so concurrent runs with
# different CARGO_TARGET_DIRs (CI, several developers) never mix logs.
logdir=${QEMU_TESTS_LOGDIR:-${CARGO_TARGET_DIR:-$root/target}/qemu-tests-logs}
mkdir -p "$logdir"
rows=("target|opt-level|bytes|MiB|linkage|build s|starts")
status=0
for lvl in ${levels:-profile}; do
    for t in "${targets[@]}"; do
        if [ "$lvl" = profile ]; then
            dir=$base
            env=()
        else
            dir=$base/release-sizes/opt-$lvl
            env=(CARGO_PROFILE_RELEASE_OPT_LEVEL="$lvl")
        fi
        echo "== smbed release for $t (opt-level: $lvl)"
        log="$logdir/release-$t-$lvl.log"
        t0=$(now)
        if ! env "${env[@]}" CARGO_TARGET_DIR="$dir" cargo build --release --target "$t" -p smbed --bin smbed > "$log" 2>&1; then
            echo "   build FAILED, see $log" >&2
            grep -E '^error' -A5 "$log" | head -n 20 >&2
            rows+=("$t|$lvl|-|-|-|$(elapsed "$t0")|BUILD FAILED")
            status=1
            continue
        fi
        secs=$(elapsed "$t0")
        bin=$dir/$t/release/smbed
        bytes=$(stat -c %s "$bin")
        mib=$(awk -v b="$bytes" 'BEGIN { printf "%.2f", b / 1048576 }')
        if file -b "$bin" | grep -qE 'static(-pie)? linked|statically linked'; then link=static; else link=dynamic; fi
        # Smoke test: does it start on the target CPU? (--version, else --help)
        starts=no
        for arg in --version --help; do
            if timeout 20 $(runner "$t") "$bin" "$arg" > /dev/null 2>&1; then starts="yes ($arg)"; break; fi
        done
        echo "   $bytes bytes, $link, ${secs}s, starts: $starts"
        rows+=("$t|$lvl|$bytes|$mib|$link|$secs|$starts")
    done
done

echo
printf '%s\n' "${rows[@]}" | awk -F'|' '{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) }
        if (NF > n) n = NF; rows = NR }
    END { for (r = 1; r <= rows; r++) { line = ""
            for (i = 1; i <= n; i++) line = line sprintf(i < n ? "%-" w[i] "s  " : "%s", c[r, i])
            print line } }'
exit $status
