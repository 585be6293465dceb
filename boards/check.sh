#!/usr/bin/env bash
# Validates boards/*/board.toml without Rust: every key present exactly once
# and in the right table, values of the right shape and within the bounds
# the engine accepts. Grep/awk based, so the files must keep the simple
# layout described in boards/README.md (one `key = value` per line, arrays
# on one line). If python3 has tomllib (3.11+), each file is also parsed as
# real TOML.
#
# Usage: boards/check.sh [BOARD_DIR...]   (default: every boards/*/)
# Exit status: 0 when all boards pass, 1 otherwise.
set -u

here=$(cd "$(dirname "$0")" && pwd)
if [ $# -gt 0 ]; then
    dirs=("$@")
else
    dirs=("$here"/*/)
fi

TOP_KEYS="name description target qemu_cpu qemu_system_cpu detect crypto"
LIMIT_KEYS="connections sessions trees opens max_io credits frame_buffers tdb_segment_size io_threads"
TARGETS="aarch64-unknown-linux-gnu aarch64-unknown-linux-musl armv7-unknown-linux-gnueabihf x86_64-unknown-linux-gnu"
CRYPTO="armv8-aes-pmull neon portable aes-ni"
ENGINE_MAX_CREDITS=8192         # smb-proto credits::MAX_CREDITS
MAX_IO_MIN=65536                # one credit's worth
MAX_IO_MAX=8388608              # 8 MiB, the largest any SMB server advertises

errors=0
checked=0
err() { echo "  $board: $*" >&2; errors=$((errors + 1)); }

have_tomllib=0
if command -v python3 >/dev/null 2>&1 && python3 -c 'import tomllib' 2>/dev/null; then
    have_tomllib=1
fi

# Value of KEY in SECTION ("" = top level). Prints nothing when absent; prints
# "__DUP__" when the key occurs more than once in that section.
value() {
    awk -v want_sec="$1" -v want_key="$2" '
        /^[ \t]*#/ || /^[ \t]*$/ { next }
        /^[ \t]*\[/ { sec = $0; gsub(/^[ \t]*\[|\][ \t]*(#.*)?$/, "", sec); next }
        {
            line = $0
            eq = index(line, "=")
            if (eq == 0) next
            k = substr(line, 1, eq - 1); gsub(/[ \t]/, "", k)
            v = substr(line, eq + 1); sub(/^[ \t]+/, "", v)
            # strip a trailing comment unless inside a string (values here never contain #)
            sub(/[ \t]+#.*$/, "", v); sub(/[ \t]+$/, "", v)
            if (sec == want_sec && k == want_key) { n++; val = v }
        }
        END { if (n > 1) print "__DUP__"; else if (n == 1) print val }
    ' "$file"
}

# The quoted strings of a one-line array, one per line, quotes kept.
strings_of() { printf '%s\n' "$1" | grep -o '"[^"]*"'; }

declare -A detect_owner=()

for d in "${dirs[@]}"; do
    d=${d%/}
    board=$(basename "$d")
    file="$d/board.toml"
    checked=$((checked + 1))
    if [ ! -f "$file" ]; then
        err "missing board.toml"
        continue
    fi

    if [ "$have_tomllib" = 1 ] && ! out=$(python3 -c 'import sys, tomllib; tomllib.load(open(sys.argv[1], "rb"))' "$file" 2>&1); then
        err "not valid TOML: $(printf '%s\n' "$out" | tail -n 1)"
    fi

    # Unknown keys and sections (typos would otherwise be silently ignored).
    while IFS= read -r line; do
        err "unknown entry: $line"
    done < <(awk -v top="$TOP_KEYS" -v lim="$LIMIT_KEYS" '
        BEGIN { n = split(top, a, " "); for (i = 1; i <= n; i++) T[a[i]] = 1
                n = split(lim, b, " "); for (i = 1; i <= n; i++) L[b[i]] = 1 }
        /^[ \t]*#/ || /^[ \t]*$/ { next }
        /^[ \t]*\[/ { sec = $0; gsub(/^[ \t]*\[|\][ \t]*(#.*)?$/, "", sec)
                      if (sec != "limits") print "[" sec "]"; next }
        { eq = index($0, "="); if (eq == 0) { print $0; next }
          k = substr($0, 1, eq - 1); gsub(/[ \t]/, "", k)
          if (sec == "" && !(k in T)) print k
          if (sec == "limits" && !(k in L)) print "limits." k }
    ' "$file")

    # Top-level keys.
    for k in $TOP_KEYS; do
        v=$(value "" "$k")
        case "$v" in
            "") err "missing key '$k' (top level, before [limits])" ;;
            __DUP__) err "key '$k' given more than once" ;;
        esac
    done
    for k in name description target qemu_cpu qemu_system_cpu; do
        v=$(value "" "$k")
        [ -z "$v" ] || [ "$v" = __DUP__ ] && continue
        [[ $v =~ ^\"[^\"]*\"$ ]] || err "'$k' must be a one-line string, got: $v"
    done
    for k in detect crypto; do
        v=$(value "" "$k")
        [ -z "$v" ] || [ "$v" = __DUP__ ] && continue
        # [ "a", "b" ] or [] : only quoted strings (no quotes inside) and commas.
        [[ $v =~ ^\[[[:space:]]*(\"[^\"]*\"[[:space:]]*(,[[:space:]]*\"[^\"]*\"[[:space:]]*)*,?[[:space:]]*)?\]$ ]] ||
            err "'$k' must be a one-line array of strings, got: $v"
    done

    name=$(value "" name | tr -d '"')
    [ "$name" = "$board" ] || err "name \"$name\" differs from its directory name"
    [ -n "$(value "" description | tr -d '"')" ] || err "description is empty"

    target=$(value "" target | tr -d '"')
    case " $TARGETS " in
        *" $target "*) ;;
        *) err "unknown target '$target' (known: $TARGETS)" ;;
    esac
    arch=${target%%-*}

    qcpu=$(value "" qemu_cpu | tr -d '"')
    qsys=$(value "" qemu_system_cpu | tr -d '"')
    if [ "$arch" = x86_64 ]; then
        [ -z "$qcpu" ] || err "x86_64 boards run natively: qemu_cpu must be \"\""
    else
        [ -n "$qcpu" ] || err "qemu_cpu is empty for an emulated target"
        [ -n "$qsys" ] || err "qemu_system_cpu is empty for an emulated target"
        # The neon=off/vfp=off trick is a qemu-user-only quirk (boards/README.md).
        case "$qsys" in *neon=off* | *vfp=off*)
            err "qemu_system_cpu must not use neon=off/vfp=off (the guest kernel would lose FP)" ;;
        esac
    fi

    # crypto: known names, ends with the always-available "portable".
    crypto=$(value "" crypto)
    items=$(strings_of "$crypto")
    last=""
    while IFS= read -r it; do
        [ -z "$it" ] && continue
        c=${it//\"/}
        case " $CRYPTO " in
            *" $c "*) ;;
            *) err "unknown crypto path '$c' (known: $CRYPTO)" ;;
        esac
        case "$arch:$c" in
            x86_64:armv8-aes-pmull | x86_64:neon | aarch64:aes-ni | armv7:aes-ni | armv7:armv8-aes-pmull)
                err "crypto path '$c' does not exist on $arch" ;;
        esac
        last=$c
    done <<< "$items"
    [ "$last" = portable ] || err "crypto list must end with \"portable\" (the path that always works)"

    # detect: strings; no string shared by two boards of the same architecture.
    ditems=$(strings_of "$(value "" detect)")
    while IFS= read -r it; do
        [ -z "$it" ] && continue
        [[ $it =~ ^\"[^\"]+\"$ ]] || { err "detect entries must be non-empty strings, got: $it"; continue; }
        key="$arch:${it//\"/}"
        if [ -n "${detect_owner[$key]:-}" ]; then
            err "detect string $it is also claimed by ${detect_owner[$key]} (same architecture)"
        else
            detect_owner[$key]=$board
        fi
    done <<< "$ditems"

    # [limits]: positive integers (underscores allowed, as in TOML).
    declare -A L=()
    ok=1
    for k in $LIMIT_KEYS; do
        v=$(value limits "$k")
        case "$v" in
            "") err "missing key 'limits.$k' (in the [limits] table)"; ok=0; continue ;;
            __DUP__) err "key 'limits.$k' given more than once"; ok=0; continue ;;
        esac
        v=${v//_/}
        if ! [[ $v =~ ^[1-9][0-9]*$ ]]; then
            err "limits.$k must be a positive integer, got: $v"; ok=0; continue
        fi
        L[$k]=$v
    done
    if [ $ok = 1 ]; then
        (( L[sessions] >= L[connections] )) || err "limits.sessions < limits.connections"
        (( L[trees] >= L[sessions] )) || err "limits.trees < limits.sessions"
        (( L[opens] >= L[connections] )) || err "limits.opens < limits.connections"
        (( L[max_io] >= MAX_IO_MIN && L[max_io] <= MAX_IO_MAX )) ||
            err "limits.max_io ${L[max_io]} outside $MAX_IO_MIN..$MAX_IO_MAX"
        (( L[max_io] % 65536 == 0 )) || err "limits.max_io must be a multiple of 64 KiB"
        (( L[credits] <= ENGINE_MAX_CREDITS )) || err "limits.credits > engine maximum $ENGINE_MAX_CREDITS"
        (( L[credits] >= L[max_io] / 65536 )) ||
            err "limits.credits < max_io/64KiB: one max-size request could never be sent"
        (( L[frame_buffers] >= 2 )) || err "limits.frame_buffers must be at least 2"
        (( L[tdb_segment_size] % 4096 == 0 && L[tdb_segment_size] >= 4 * 4096 )) ||
            err "limits.tdb_segment_size must be a multiple of 4096 and at least 4 blocks"
        (( L[io_threads] <= 256 )) || err "limits.io_threads unreasonably large"
    fi
    unset L
done

if [ $errors -gt 0 ]; then
    echo "boards/check.sh: $errors problem(s) in $checked board(s)" >&2
    exit 1
fi
echo "boards/check.sh: $checked board(s) OK$([ "$have_tomllib" = 1 ] && echo ' (TOML syntax checked with python3 tomllib)')"
