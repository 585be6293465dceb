#!/usr/bin/env bash
# bench/pi.sh - benchmark smbed on a real board (a Raspberry Pi or any Linux
# machine) and print ONE markdown table to paste into an issue.
#
# Run it from a checkout on the board itself:
#
#   bash bench/pi.sh                        # build, detect, crypto, e2e if Samba is there
#   sudo bash bench/pi.sh                   # the e2e comparison needs root
#   bash bench/pi.sh --smbed ./smbed --crypto-speed ./crypto_speed   # cross-built binaries
#
# What it does:
#   1. detects the board: /proc/device-tree/model, the CPU (/proc/cpuinfo: the
#      ARM part number decoded, or x86's model name), cores, RAM, OS, kernel,
#      AT_HWCAP/AT_HWCAP2 (LD_SHOW_AUXV=1 /bin/true), the CPU frequency
#      governor, the temperature and (on a Pi) `vcgencmd get_throttled`; and
#      which board profile and crypto path smbed picks (`smbed testparm`);
#   2. builds what is missing: `cargo build --release -p smbed-bench --bin
#      crypto_speed` and, for step 4, `-p smbed` (on a 1 GiB board the fat-LTO
#      release build may need swap: cross-build instead and pass the binaries);
#   3. runs crypto_speed (bench/src/bin/crypto_speed.rs) on 1 MiB messages for
#      SMB3's ciphers and signing algorithms, on every smb-crypto backend this
#      CPU can run: MB/s, one timed run of SECS seconds each;
#   4. if Samba's smbd, smbclient and smbtorture are installed and it runs as
#      root: QUICK=1 bench/e2e/compare.sh (smbed against Samba over loopback,
#      128 MiB transfers; a few minutes on a Pi) and puts its rows in the table.
#
# Options:
#   --smbed PATH          use this smbed binary (no cargo build of smbed)
#   --crypto-speed PATH   use this crypto_speed binary (no cargo build of the bench)
#   --secs S              seconds per crypto measurement (default 1)
#   --no-e2e              skip the Samba comparison
#   --full-e2e            run compare.sh without QUICK=1 (1 GiB, 10k files: long)
#   --out FILE            also write the markdown to FILE
# Environment: CARGO_TARGET_DIR as usual (default <repo>/target).
# Exit status: 0 when the table was printed, 1 when a build or a measurement
# failed, 2 on bad arguments.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

smbed=""
speed=""
secs=1
e2e=1
e2e_quick=1
out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --smbed) smbed=$2; shift 2 ;;
        --crypto-speed) speed=$2; shift 2 ;;
        --secs) secs=$2; shift 2 ;;
        --no-e2e) e2e=0; shift ;;
        --full-e2e) e2e_quick=0; shift ;;
        --out) out=$2; shift 2 ;;
        -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "pi.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
target_dir=${CARGO_TARGET_DIR:-$root/target}
# Given binaries: absolute paths (testparm runs in another directory).
for v in smbed speed; do
    if [ -n "${!v}" ]; then
        [ -x "${!v}" ] || { echo "pi.sh: ${!v} is not an executable" >&2; exit 2; }
        printf -v "$v" '%s' "$(realpath "${!v}")"
    fi
done
work=$(mktemp -d "${TMPDIR:-/tmp}/smbed-pi.XXXXXX")
trap 'rm -rf "$work"' EXIT
status=0
rows=()   # "section|item|value"
row() { rows+=("$1|$2|$3"); }
log() { printf 'pi.sh: %s\n' "$*" >&2; }
trim() { sed 's/^[[:space:]]*//; s/[[:space:]]*$//' <<< "$1"; }
t_start=$SECONDS

# --- 1. The machine ------------------------------------------------------------------
arm_part() { # implementer part -> core name
    case "$1:$2" in
        0x41:0xb76) echo ARM1176 ;; 0x41:0xc05) echo Cortex-A5 ;; 0x41:0xc07) echo Cortex-A7 ;;
        0x41:0xc08) echo Cortex-A8 ;; 0x41:0xc09) echo Cortex-A9 ;; 0x41:0xc0d) echo Cortex-A12 ;;
        0x41:0xc0e) echo Cortex-A17 ;; 0x41:0xc0f) echo Cortex-A15 ;; 0x41:0xd03) echo Cortex-A53 ;;
        0x41:0xd04) echo Cortex-A35 ;; 0x41:0xd05) echo Cortex-A55 ;; 0x41:0xd07) echo Cortex-A57 ;;
        0x41:0xd08) echo Cortex-A72 ;; 0x41:0xd09) echo Cortex-A73 ;; 0x41:0xd0a) echo Cortex-A75 ;;
        0x41:0xd0b) echo Cortex-A76 ;; 0x41:0xd0c) echo Neoverse-N1 ;; 0x41:0xd0d) echo Cortex-A77 ;;
        0x41:0xd41) echo Cortex-A78 ;; 0x41:0xd46) echo Cortex-A510 ;; 0x41:0xd47) echo Cortex-A710 ;;
        *) echo "implementer $1 part $2" ;;
    esac
}
model=""
[ -r /proc/device-tree/model ] && model=$(tr -d '\0' < /proc/device-tree/model)
[ -n "$model" ] || model=$(cat /sys/class/dmi/id/product_name 2> /dev/null || true)
row machine model "${model:-unknown (no device tree)}"
cores=$(nproc)
cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
# ARM: one "CPU part" line per core; list each kind (big.LITTLE boards have two).
parts=$(awk -F': *' '/^CPU implementer/ { i = $2 } /^CPU part/ { print i, $2 }' /proc/cpuinfo | sort | uniq -c |
    while read -r n impl part; do printf '%s x %s, ' "$n" "$(arm_part "$impl" "$part")"; done | sed 's/, $//')
if [ -n "$parts" ]; then cpu="$parts${cpu:+ ($cpu)}"; fi
maxf=$(cat /sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq 2> /dev/null || true)
gov=$(cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor 2> /dev/null || true)
row machine CPU "${cpu:-unknown}; $cores online${maxf:+; max $((maxf / 1000)) MHz}${gov:+; governor $gov}"
row machine RAM "$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
os=$(sed -n 's/^PRETTY_NAME=//p' /etc/os-release 2> /dev/null | tr -d '"' || true)
row machine "OS, kernel, userland" "${os:-?}; $(uname -r) $(uname -m); $(getconf LONG_BIT)-bit userland"
auxv=$(LD_SHOW_AUXV=1 /bin/true 2> /dev/null || true)
hwcap=$(awk -F': *' '$1 == "AT_HWCAP" { print $2 }' <<< "$auxv")
hwcap2=$(awk -F': *' '$1 == "AT_HWCAP2" { print $2 }' <<< "$auxv")
row machine "AT_HWCAP / AT_HWCAP2" "${hwcap:-?} / ${hwcap2:-?}"
# The CPU features the crypto paths depend on, as /proc/cpuinfo names them
# (ARM: "Features", x86: "flags").
feat=$(awk -F': *' '/^(Features|flags)/ { print $2; exit }' /proc/cpuinfo | tr ' ' '\n' |
    grep -xE 'neon|asimd|aes|pmull|sha1|sha2|crc32|pclmulqdq|avx2|vaes|vpclmulqdq|vfpv4|idiva' | paste -sd' ' - || true)
row machine "crypto-relevant CPU features" "${feat:-none}"
temp=$(cat /sys/class/thermal/thermal_zone0/temp 2> /dev/null || true)
thr=$(vcgencmd get_throttled 2> /dev/null || true)
if [ -n "$temp" ] || [ -n "$thr" ]; then
    row machine "temperature, throttling (before)" "${temp:+$((temp / 1000)) °C}${thr:+; $thr}"
fi

# --- 2. Binaries -----------------------------------------------------------------------------
build() { # PACKAGE BIN -> path
    local l=$work/build-$2.log
    log "cargo build --release -p $1 --bin $2 (target dir $target_dir)"
    if ! cargo build --release -p "$1" --bin "$2" > "$l" 2>&1; then
        log "build of $2 FAILED:"
        tail -n 20 "$l" >&2
        return 1
    fi
    echo "$target_dir/release/$2"
}
need_smbed=$e2e
if [ -z "$smbed" ]; then
    # smbed is also used for `testparm` (which board profile and crypto path it picks).
    if command -v cargo > /dev/null; then
        smbed=$(build smbed smbed) || { status=1; smbed=""; }
    elif [ "$need_smbed" = 1 ]; then
        log "no cargo: pass --smbed PATH"
    fi
fi
if [ -z "$speed" ]; then
    if command -v cargo > /dev/null; then
        speed=$(build smbed-bench crypto_speed) || { status=1; speed=""; }
    else
        log "no cargo: pass --crypto-speed PATH"
        status=1
    fi
fi
if [ -n "$smbed" ]; then
    row smbed version "$("$smbed" --version 2> /dev/null || echo '?')"
    # testparm without --config reads the built-in default (nothing is written).
    tp=$(cd "$work" && { "$smbed" testparm 2> /dev/null || true; })
    b=$(sed -n 's/^# board: //p' <<< "$tp" | head -n 1)
    c=$(sed -n 's/^#   crypto: //p' <<< "$tp" | head -n 1)
    [ -n "$b" ] && row smbed "board profile" "$b"
    [ -n "$c" ] && row smbed "crypto path" "$c"
fi

# --- 3. Crypto ---------------------------------------------------------------------------------
if [ -n "$speed" ]; then
    log "crypto: ${secs}s per operation and backend"
    default=$("$speed" sign-gmac default 4096 0.01 2> /dev/null | sed -n 's/.*backend=\([^ ]*\).*/\1/p')
    backends=()
    for b in armv8-crypto aarch64-neon armv7-neon x86-aesni portable; do
        # A backend this CPU (or this build) lacks makes crypto_speed fail: skipped.
        # (In a group, so that the shell's "Aborted" note for the panic goes to /dev/null.)
        if { "$speed" sign-gmac "$b" 4096 0.01; } > /dev/null 2>&1; then backends+=("$b"); fi
    done
    for op in seal-aes128gcm open-aes128gcm seal-aes128ccm seal-aes256gcm seal-aes256ccm sign-gmac sign-cmac sign-hmac; do
        cells=()
        for b in "${backends[@]}"; do
            if [ "$op" = sign-hmac ] && [ "$b" != "$default" ]; then continue; fi  # HMAC-SHA256 has one implementation
            line=$({ "$speed" "$op" "$b" $((1 << 20)) "$secs"; } 2> /dev/null) || { cells+=("$b failed"); status=1; continue; }
            mbs=$(sed -n 's/.*(\([0-9.]*\) MB\/s).*/\1/p' <<< "$line")
            if [ "$b" = "$default" ]; then cells+=("**$b $mbs**"); else cells+=("$b $mbs"); fi
        done
        row "crypto, MB/s (1 MiB)" "$op" "$(printf '%s · ' "${cells[@]}" | sed 's/ · $//')"
    done
fi

# --- 4. End to end against Samba ---------------------------------------------------------------
e2e_note=""
if [ "$e2e" = 0 ]; then
    e2e_note="skipped (--no-e2e)"
elif ! command -v smbd > /dev/null && [ ! -x /usr/sbin/smbd ]; then
    e2e_note="not run: Samba's smbd is not installed (apt-get install samba smbclient samba-testsuite)"
elif ! command -v smbclient > /dev/null || ! command -v smbtorture > /dev/null; then
    e2e_note="not run: needs smbclient and smbtorture (apt-get install smbclient samba-testsuite)"
elif [ "$(id -u)" != 0 ]; then
    e2e_note="not run: bench/e2e/compare.sh needs root (sudo bash bench/pi.sh)"
elif [ -z "$smbed" ]; then
    e2e_note="not run: no smbed binary"
else
    qk=()
    [ "$e2e_quick" = 1 ] && qk=(QUICK=1)
    log "bench/e2e/compare.sh ${qk[*]} (smbed against Samba; log $work/e2e.log)"
    if env "${qk[@]}" SMBED="$smbed" OUT="$work/e2e.md" bash bench/e2e/compare.sh > "$work/e2e.log" 2>&1 && [ -s "$work/e2e.md" ]; then
        # The rows of its main table: | Metric | Samba | smbed | smbed/Samba | Bar | Result |
        sec="e2e vs Samba$([ "$e2e_quick" = 1 ] && echo ' (QUICK)')"
        while IFS='|' read -r _ metric samba sm ratio bar result _; do
            metric=$(trim "$metric") bar=$(trim "$bar") result=$(trim "$result")
            v="Samba $(trim "$samba") · smbed $(trim "$sm")"
            case "$(trim "$ratio")" in "" | - | n/a) ;; *) v+=" · ratio $(trim "$ratio")" ;; esac
            case "$bar" in "" | -) ;; *) v+=" (bar $bar: $result)" ;; esac
            row "$sec" "$metric" "$v"
        done < <(awk '/^\| Metric \|/ { t = 1; next } t && !/^\|/ { exit } t && !/^\|---/' "$work/e2e.md")
        anomalies=$(sed -n 's/^Anomalies during the run: //p' "$work/e2e.md" | head -n 1)
        [ -n "$anomalies" ] && row "e2e vs Samba" anomalies "$anomalies"
    else
        e2e_note="FAILED (bench/e2e/compare.sh; last lines: $(tail -n 3 "$work/e2e.log" | tr '\n|' '  '))"
        status=1
    fi
fi
[ -n "$e2e_note" ] && row "e2e vs Samba" "bench/e2e/compare.sh" "$e2e_note"
temp=$(cat /sys/class/thermal/thermal_zone0/temp 2> /dev/null || true)
thr=$(vcgencmd get_throttled 2> /dev/null || true)
if [ -n "$temp" ] || [ -n "$thr" ]; then
    row machine "temperature, throttling (after)" "${temp:+$((temp / 1000)) °C}${thr:+; $thr}"
fi

# --- The table ---------------------------------------------------------------------------------
{
    echo "### smbed on ${model:-$(uname -m)} ($(date -u '+%Y-%m-%d'), bench/pi.sh)"
    echo
    echo "| section | item | value |"
    echo "|---|---|---|"
    for r in "${rows[@]}"; do
        IFS='|' read -r s i v <<< "$r"
        printf '| %s | %s | %s |\n' "$s" "$i" "${v//|/\\|}"
    done
    echo
    echo "Crypto: bench/src/bin/crypto_speed.rs, 1 MiB messages, ${secs} s per cell; **bold** = the backend smbed uses by default on this CPU. Run took $((SECONDS - t_start)) s."
} > "$work/table.md"
cat "$work/table.md"
[ -z "$out" ] || cp "$work/table.md" "$out"
exit "$status"
