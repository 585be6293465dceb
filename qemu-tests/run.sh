#!/usr/bin/env bash
# Full-system boots of smbed on ARM: Debian's arm64 kernel (aarch64) and its
# armmp-lpae kernel (armv7) under qemu-system, an initramfs holding busybox
# and the static smbed, the share on an ext4 disk image made here
# (mkfs.ext4 -d), and the host talking to the guest's port 445 through a
# QEMU hostfwd on 127.0.0.1 only.
#
# Usage: qemu-tests/run.sh [--quick] [--keep] [aarch64] [armv7]
#   default  the full set on both architectures: smbclient put/ls/get of a
#            64 MiB file with a sha256 check, once in a signed and once in an
#            encrypted SMB 3.1.1 session; smbtorture smb2.connect smb2.read
#            smb2.dir smb2.rename (each leaf test compared with
#            tests/interop/torture-expected.txt)
#   --quick  the CI subset: the same checks with an 8 MiB file, and
#            smbtorture smb2.connect only
#   --keep   keep the work directory (initramfs, disk image)
#   ARCH     aarch64 and/or armv7 (default both)
# Prints per architecture: boot-to-serving seconds (QEMU launch until the host
# completes an authenticated smbclient `ls`), every smbclient check, the
# smbtorture pass counts per suite, and the guest smbed's VmRSS read inside
# the guest (idle after boot, after the transfers, and the peak VmHWM).
#
# Everything the boots need comes from Debian's packages: the kernel .deb
# (the real linux-image-6.1.0-N-* behind the meta package) and busybox-static
# for arm64/armhf, fetched with apt-get download into qemu-tests/.cache/
# (gitignored; QEMU_SYSTEM_CACHE to change; only the .deb files, ~105 MiB, and
# apt's lists are kept) and reused while Debian's version stays the same. The binaries are built with the release profile:
# aarch64-unknown-linux-musl and armv7-unknown-linux-gnueabihf (+crt-static
# from .cargo/config.toml), both static.
#
# Environment: CARGO_TARGET_DIR as usual; SMBED_AARCH64 / SMBED_ARMV7 (use
# this static binary instead of building); QEMU_SYSTEM_SIZE_MB (file size);
# QEMU_SYSTEM_SUITES (smbtorture suites, space separated);
# QEMU_SYSTEM_BOOT_TIMEOUT (seconds until serving, default 180);
# QEMU_SYSTEM_SMBC_TIMEOUT (seconds per smbclient call, default 600);
# TORTURE_TIMEOUT (seconds per smbtorture leaf test, default 180 here);
# QEMU_SYSTEM_SMP (guest CPUs, default 2); QEMU_SYSTEM_MEM (MiB, default 512);
# QEMU_SYSTEM_MAX_SECONDS (lifetime of each QEMU, default 2400, --quick 900);
# QEMU_TESTS_LOGDIR (default $CARGO_TARGET_DIR/qemu-tests-logs; logs go to
# its system/ subfolder).
#
# Needs (Debian 12, installed here when run as root): qemu-system-arm (it has
# qemu-system-aarch64 too), smbclient, samba-testsuite (smbtorture),
# e2fsprogs, cpio, binutils, and for the armv7 build gcc-arm-linux-gnueabihf
# and libc6-dev-armhf-cross. apt-get update/download run with a private apt
# state under the cache (no `dpkg --add-architecture` on the host; works
# without root).
# Exit status: 0 all passed, 1 a check failed, 2 prerequisites missing.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

mode=full
keep=0
archs=()
for a in "$@"; do
    case "$a" in
        --quick) mode=quick ;;
        --full) mode=full ;;
        --keep) keep=1 ;;
        -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
        aarch64 | armv7) archs+=("$a") ;;
        *) echo "run.sh: unknown argument $a (see --help)" >&2; exit 2 ;;
    esac
done
[ ${#archs[@]} -gt 0 ] || archs=(aarch64 armv7)

if [ "$mode" = quick ]; then
    size_mb=${QEMU_SYSTEM_SIZE_MB:-8}
    read -r -a suites <<< "${QEMU_SYSTEM_SUITES:-smb2.connect}"
else
    size_mb=${QEMU_SYSTEM_SIZE_MB:-64}
    read -r -a suites <<< "${QEMU_SYSTEM_SUITES:-smb2.connect smb2.read smb2.dir smb2.rename}"
fi
boot_tmo=${QEMU_SYSTEM_BOOT_TIMEOUT:-180}
# Each QEMU runs under timeout(1) with this lifetime, so that even a SIGKILL
# of this script cannot leave a guest running for long.
if [ "$mode" = quick ]; then max_life=${QEMU_SYSTEM_MAX_SECONDS:-900}; else max_life=${QEMU_SYSTEM_MAX_SECONDS:-2400}; fi
smbc_tmo=${QEMU_SYSTEM_SMBC_TIMEOUT:-600}
smp=${QEMU_SYSTEM_SMP:-2}
mem=${QEMU_SYSTEM_MEM:-512}
export TORTURE_TIMEOUT=${TORTURE_TIMEOUT:-180}
cache=${QEMU_SYSTEM_CACHE:-$root/qemu-tests/.cache}
target_dir=${CARGO_TARGET_DIR:-$root/target}
logdir=${QEMU_TESTS_LOGDIR:-$target_dir/qemu-tests-logs}/system
# The accounts the guest's smbed gets (the same as tests/interop/lib.sh, so
# tests/interop/torture.sh can drive the guest unchanged).
user1=alice pass1='Passw0rd!' user2=bob pass2='Passw0rd2!'

# --- Per-architecture facts ----------------------------------------------------
# debarch | kernel meta package | Rust target | qemu binary | machine | board
arch_info() {
    case "$1" in
        aarch64) echo "arm64|linux-image-arm64|aarch64-unknown-linux-musl|qemu-system-aarch64|virt|qemu-virt-aarch64" ;;
        # highmem=off: the 32-bit kernel must not be offered RAM/PCI above 4 GiB.
        armv7) echo "armhf|linux-image-armmp-lpae|armv7-unknown-linux-gnueabihf|qemu-system-arm|virt,highmem=off|qemu-virt-armv7" ;;
    esac
}
# The kernel modules the guest needs (whichever the kernel has built in are
# skipped; their dependencies from the modules' own `depends=` are added and
# everything is loaded in dependency order). crc32c_generic: ext4 and jbd2
# checksum their metadata through the crypto API's "crc32c", which nobody
# could load on demand in an initramfs without modprobe.
MODULES=(virtio_mmio virtio_blk virtio_net virtio_rng crc32c_generic ext4)

# --- Helpers ---------------------------------------------------------------------
now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
say() { printf '%s\n' "$*"; }
table() { # '|'-separated rows on stdin -> aligned columns
    awk -F'|' '{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) }
                 if (NF > n) n = NF; rows = NR }
        END { for (r = 1; r <= rows; r++) { line = ""
                for (i = 1; i <= n; i++) line = line sprintf(i < n ? "%-" w[i] "s  " : "%s", c[r, i])
                print line } }'
}
board_value() { # board key -> string value from boards/<board>/board.toml (top level)
    awk -v k="$2" '/^[ \t]*\[/ { exit }
        { eq = index($0, "="); if (!eq) next; key = substr($0, 1, eq - 1); gsub(/[ \t]/, "", key)
          if (key == k) { v = substr($0, eq + 1); sub(/^[ \t]*"/, "", v); sub(/".*$/, "", v); print v; exit } }' \
        "$root/boards/$1/board.toml"
}
pick_free_port() {
    if command -v python3 > /dev/null 2>&1 && python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()' 2> /dev/null; then
        return 0
    fi
    local p used
    used=$(ss -Htan 2> /dev/null | awk '{ print $4 }' | sed 's/.*://')
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 40000))
        grep -qx "$p" <<< "$used" || { echo "$p"; return 0; }
    done
    return 1
}

# --- Prerequisites ---------------------------------------------------------------
need_cmds=(smbclient smbtorture mkfs.ext4 cpio gzip dpkg apt-get sha256sum readelf)
need_pkgs=(smbclient samba-testsuite e2fsprogs cpio binutils)
for a in "${archs[@]}"; do
    IFS='|' read -r _ _ _ qbin _ _ <<< "$(arch_info "$a")"
    need_cmds+=("$qbin")
    override=SMBED_${a^^}
    if [ -z "${!override:-}" ]; then
        need_cmds+=(cargo)
        # armv7 links with the cross gcc against glibc's static libc.a
        # (+crt-static); aarch64 musl links with rust-lld, nothing needed.
        if [ "$a" = armv7 ]; then
            need_cmds+=(arm-linux-gnueabihf-gcc)
            need_pkgs+=(gcc-arm-linux-gnueabihf libc6-dev-armhf-cross)
        fi
    fi
done
need_pkgs+=(qemu-system-arm)
missing=()
for c in "${need_cmds[@]}"; do command -v "$c" > /dev/null || missing+=("$c"); done
if [[ " ${need_pkgs[*]} " == *" libc6-dev-armhf-cross "* ]] && [ ! -e /usr/arm-linux-gnueabihf/lib/libc.a ]; then
    missing+=(/usr/arm-linux-gnueabihf/lib/libc.a)
fi
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
        say "run.sh: missing ${missing[*]}: apt-get install ${need_pkgs[*]}"
        { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_pkgs[@]}" ||
            { apt-get update -q || true; DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_pkgs[@]}"; }; } > /dev/null
        missing=()
        for c in "${need_cmds[@]}"; do command -v "$c" > /dev/null || missing+=("$c"); done
        if [[ " ${need_pkgs[*]} " == *" libc6-dev-armhf-cross "* ]] && [ ! -e /usr/arm-linux-gnueabihf/lib/libc.a ]; then
            missing+=(/usr/arm-linux-gnueabihf/lib/libc.a)
        fi
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        echo "run.sh: missing commands: ${missing[*]}" >&2
        echo "Install them with (Debian/Ubuntu, as root): apt-get install -y ${need_pkgs[*]}" >&2
        exit 2
    fi
fi

mkdir -p "$cache" "$logdir"
work=$(mktemp -d "${TMPDIR:-/tmp}/smbed-qemu-system.XXXXXX")
qpid=""   # the timeout(1) that runs QEMU: it passes a TERM on to QEMU
bgpid=""  # a client command running in the background (see bg_wait)
# shellcheck disable=SC2317  # called from the EXIT trap
stop_qemu() { # kill exactly the QEMU this script started, by PID
    if [ -n "$qpid" ]; then
        kill "$qpid" 2> /dev/null || true
        for _ in $(seq 1 50); do kill -0 "$qpid" 2> /dev/null || break; sleep 0.1; done
        kill -9 "$qpid" 2> /dev/null || true
        wait "$qpid" 2> /dev/null || true
        qpid=""
    fi
}
# shellcheck disable=SC2317  # the EXIT trap
cleanup() {
    if [ -n "$bgpid" ]; then kill "$bgpid" 2> /dev/null || true; fi
    stop_qemu
    if [ "$keep" = 1 ]; then echo "run.sh: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

t_start=$(now)
say "run.sh: full-system boots ($mode set: ${size_mb} MiB file, smbtorture ${suites[*]}); logs in $logdir"

# --- Debian packages: kernel and busybox, cached ------------------------------------
# apt runs with a private state under the cache (package lists for arm64 and
# armhf, an empty dpkg status): the host's sources are used, but its dpkg
# architectures, package lists and locks are left alone, so no
# `dpkg --add-architecture` is needed and a mirror hiccup on an ARM index
# can never break the host's own `apt-get update`.
aptdir=$cache/apt
mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial"
[ -e "$aptdir/status" ] || : > "$aptdir/status"
APT_OPTS=(-q -o "Dir::State::Lists=$aptdir/lists" -o "Dir::Cache=$aptdir/cache"
    -o "Dir::State::status=$aptdir/status" -o "APT::Architectures::=arm64" -o "APT::Architectures::=armhf")
# As root apt would hand downloads to the _apt user, who cannot write here.
[ "$(id -u)" != 0 ] || APT_OPTS+=(-o "APT::Sandbox::User=root")
apt_updated=0
apt_update() {
    [ "$apt_updated" = 1 ] && return 0
    apt_updated=1
    say "   apt-get update (private lists in $aptdir)"
    # A partial failure (a mirror in sync for one architecture's index) is
    # not fatal: what matters is whether the packages resolve afterwards.
    apt-get "${APT_OPTS[@]}" update > "$logdir/apt-update.log" 2>&1 || echo "   (apt-get update reported errors, see $logdir/apt-update.log)"
}
# Lists older than a week: refresh them (a new kernel ABI, a security fix).
if [ -z "$(find "$aptdir/lists" -maxdepth 1 -name '*_Packages*' -mtime -7 2> /dev/null)" ]; then apt_update; fi
# kernel_pkg DEBARCH META -> the real package name behind the meta package
kernel_pkg() {
    apt-cache "${APT_OPTS[@]}" depends "$2:$1" 2> /dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { sub(/:.*/, "", $2); print $2; exit }'
}
pkg_version() { # DEBARCH PKG -> candidate version
    apt-cache "${APT_OPTS[@]}" policy "$2:$1" 2> /dev/null | awk '$1 == "Candidate:" && $2 != "(none)" { print $2; exit }'
}
# fetch DEBARCH PKG -> prints the path of the cached .deb (one per package and
# version: only the .deb files are kept, ~105 MiB for both architectures; they
# are unpacked into the work directory on every run, a few seconds). Falls
# back to the newest cached .deb when apt cannot resolve the package.
fetch() {
    local debarch=$1 pkg=$2 ver deb dl
    mkdir -p "$cache/$debarch"
    ver=$(pkg_version "$debarch" "$pkg")
    if [ -z "$ver" ]; then
        apt_update >&2
        ver=$(pkg_version "$debarch" "$pkg")
    fi
    if [ -z "$ver" ]; then
        deb=$(find "$cache/$debarch" -maxdepth 1 -type f -name "${pkg}_*_$debarch.deb" 2> /dev/null | sort -V | tail -n 1)
        if [ -n "$deb" ]; then
            echo "   $pkg:$debarch: apt cannot resolve it; using the cached $(basename "$deb")" >&2
            echo "$deb"
            return 0
        fi
        echo "run.sh: cannot resolve $pkg:$debarch with apt" >&2
        return 1
    fi
    deb=$cache/$debarch/${pkg}_${ver//:/%3a}_$debarch.deb
    if [ ! -s "$deb" ]; then
        dl=$(mktemp -d "$cache/dl.XXXXXX")
        echo "   apt-get download $pkg:$debarch=$ver" >&2
        if ! (cd "$dl" && apt-get "${APT_OPTS[@]}" download "$pkg:$debarch=$ver") > "$logdir/download-$pkg-$debarch.log" 2>&1; then
            apt_update >&2
            if ! (cd "$dl" && apt-get "${APT_OPTS[@]}" download "$pkg:$debarch=$ver") > "$logdir/download-$pkg-$debarch.log" 2>&1; then
                echo "run.sh: apt-get download $pkg:$debarch=$ver failed, see $logdir/download-$pkg-$debarch.log" >&2
                rm -rf "$dl"
                return 1
            fi
        fi
        # Older versions of the same package are not needed any more.
        find "$cache/$debarch" -maxdepth 1 -type f -name "${pkg}_*_$debarch.deb" -delete
        mv "$dl"/*.deb "$deb"
        rm -rf "$dl"
    fi
    echo "$deb"
}
deb_version() { basename "$1" | sed 's/^[^_]*_//; s/_[^_]*\.deb$//; s/%3a/:/'; }

declare -A kdir=() bbdir=() kname=()
fetch_status=0
for a in "${archs[@]}"; do
    IFS='|' read -r debarch meta _ _ _ _ <<< "$(arch_info "$a")"
    say "== Debian packages for $a ($debarch)"
    kp=$(kernel_pkg "$debarch" "$meta")
    if [ -z "$kp" ]; then apt_update; kp=$(kernel_pkg "$debarch" "$meta"); fi
    if [ -z "$kp" ]; then
        # Offline: the cached kernel of this architecture, if any.
        kp=$(find "$cache/$debarch" -maxdepth 1 -type f -name 'linux-image-*.deb' 2> /dev/null | sort -V | tail -n 1 | xargs -r basename | sed 's/_.*//')
    fi
    if [ -z "$kp" ]; then echo "run.sh: cannot resolve $meta:$debarch" >&2; fetch_status=2; continue; fi
    if ! kdeb=$(fetch "$debarch" "$kp") || ! bbdeb=$(fetch "$debarch" busybox-static); then
        fetch_status=2
        continue
    fi
    kdir[$a]=$work/$a-kernel
    bbdir[$a]=$work/$a-busybox
    dpkg -x "$kdeb" "${kdir[$a]}"
    dpkg -x "$bbdeb" "${bbdir[$a]}"
    kname[$a]="$kp $(deb_version "$kdeb")"
    say "   kernel ${kname[$a]}, busybox $(deb_version "$bbdeb")"
done
[ "$fetch_status" = 0 ] || exit "$fetch_status"

# --- Static smbed per architecture ---------------------------------------------------
declare -A bin=()
build_status=0
for a in "${archs[@]}"; do
    IFS='|' read -r _ _ rtarget _ _ _ <<< "$(arch_info "$a")"
    override=SMBED_${a^^}
    if [ -n "${!override:-}" ]; then
        bin[$a]=${!override}
        say "== smbed for $a: ${bin[$a]} (from $override)"
    else
        if [ ! -d "$(rustc --print sysroot)/lib/rustlib/$rtarget/lib" ] && command -v rustup > /dev/null; then
            rustup target add "$rtarget" > /dev/null 2>&1 || { echo "run.sh: rustup target add $rtarget failed" >&2; exit 2; }
        fi
        say "== cargo build --release -p smbed --target $rtarget"
        t0=$(now)
        if ! timeout -k 10 1800 cargo build --release -p smbed --bin smbed --target "$rtarget" > "$logdir/build-$rtarget.log" 2>&1; then
            echo "   build FAILED, see $logdir/build-$rtarget.log" >&2
            grep -E '^error' -A5 "$logdir/build-$rtarget.log" | head -n 20 >&2 || true
            build_status=1
            continue
        fi
        bin[$a]=$target_dir/$rtarget/release/smbed
        say "   $(elapsed "$t0") s"
    fi
    if [ ! -x "${bin[$a]}" ]; then echo "run.sh: ${bin[$a]} is not an executable" >&2; build_status=1; continue; fi
    want_machine=AArch64
    [ "$a" = armv7 ] && want_machine=ARM
    if ! readelf -h "${bin[$a]}" 2> /dev/null | grep -qE "Machine:[[:space:]]+$want_machine\$"; then
        echo "run.sh: ${bin[$a]} is not an $want_machine executable" >&2
        build_status=1
    fi
    # The initramfs has no libc: the binary must not ask for an interpreter.
    if readelf -l "${bin[$a]}" 2> /dev/null | grep -q 'program interpreter'; then
        echo "run.sh: ${bin[$a]} is dynamically linked (RUSTFLAGS in the environment replaces the +crt-static of .cargo/config.toml)" >&2
        build_status=1
    fi
done
[ "$build_status" = 0 ] || exit 1

# --- Test data ---------------------------------------------------------------------------
client_conf=$work/client.conf
printf '[global]\n\tclient min protocol = SMB2_02\n' > "$client_conf"
src=$work/src.bin
head -c $((size_mb << 20)) /dev/urandom > "$src"
src_sum=$(sha256sum "$src" | cut -d' ' -f1)

# --- initramfs + disk image ---------------------------------------------------------------
# make_initramfs ARCH OUT: busybox, smbed, modules, /init
make_initramfs() {
    local a=$1 out=$2 ir=$work/initramfs-$1 kd mdir order=() m
    kd=${kdir[$a]}
    mdir=$(find "$kd/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n 1)
    rm -rf "$ir"
    mkdir -p "$ir"/{bin,dev,proc,sys,data,tmp,etc,lib/modules}
    cp "${bbdir[$a]}/bin/busybox" "$ir/bin/busybox"
    cp "${bin[$a]}" "$ir/bin/smbed"
    # Resolve the modules' dependencies from their .modinfo `depends=`.
    declare -A seen=()
    add_module() {
        local name=$1 f d deps
        [ -n "${seen[$name]:-}" ] && return 0
        seen[$name]=1
        if grep -qE "/(${name}|${name//_/-})\.ko" "$mdir/modules.builtin"; then return 0; fi
        f=$(find "$mdir/kernel" \( -name "$name.ko*" -o -name "${name//_/-}.ko*" \) | head -n 1)
        if [ -z "$f" ]; then echo "run.sh: module $name not found in $mdir" >&2; return 1; fi
        case "$f" in
            *.ko) cp "$f" "$ir/lib/modules/$name.ko" ;;
            *.ko.xz) xz -dc "$f" > "$ir/lib/modules/$name.ko" ;;
            *.ko.zst) zstd -qdc "$f" > "$ir/lib/modules/$name.ko" ;;
            *) echo "run.sh: unknown module format $f" >&2; return 1 ;;
        esac
        deps=$(tr '\0' '\n' < "$ir/lib/modules/$name.ko" | sed -n 's/^depends=//p' | head -n 1)
        for d in ${deps//,/ }; do add_module "${d//-/_}" || return 1; done
        order+=("$name")
    }
    for m in "${MODULES[@]}"; do add_module "$m" || return 1; done
    printf '%s\n' "${order[@]}" > "$ir/etc/modules.order"
    write_init > "$ir/init"
    chmod 755 "$ir/init"
    (cd "$ir" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) > "$out"
    echo "${order[*]}"
}

# The guest's /init (busybox sh, PID 1). Lines starting with "SMBED-" are the
# markers the host parses from the serial console.
write_init() {
    cat << EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
up() { cut -d' ' -f1 /proc/uptime; }
echo "SMBED-INIT uptime=\$(up) kernel=\$(uname -r) machine=\$(uname -m)"
for m in \$(cat /etc/modules.order); do
    insmod /lib/modules/\$m.ko || echo "SMBED-ERROR insmod \$m failed"
done
ip link set lo up
ip addr add 10.0.2.15/24 dev eth0 && ip link set eth0 up && ip route add default via 10.0.2.2 ||
    echo "SMBED-ERROR network setup failed"
mount -t ext4 /dev/vda /data || echo "SMBED-ERROR mount /dev/vda failed"
mkdir -p /data/state
cat > /etc/smb.conf << 'CONF'
[global]
	netbios name = SMBEDQEMU
	workgroup = WORKGROUP
	smb ports = 445
	state directory = /data/state
	server signing = auto
	server smb encrypt = if_required
	map to guest = bad user
	log level = 1

[share]
	path = /data/share
	read only = no
	guest ok = no

[public]
	path = /data/public
	read only = yes
	guest ok = yes
CONF
printf '%s\n' '$pass1' | smbed user add $user1 --config /etc/smb.conf || echo "SMBED-ERROR user add $user1 failed"
printf '%s\n' '$pass2' | smbed user add $user2 --config /etc/smb.conf || echo "SMBED-ERROR user add $user2 failed"
echo "SMBED-START uptime=\$(up)"
smbed serve --config /etc/smb.conf > /dev/console 2>&1 &
pid=\$!
# VmRSS/VmHWM of the server every 2 s, read here in the guest.
while kill -0 \$pid 2> /dev/null; do
    echo "SMBED-RSS uptime=\$(up) \$(awk '/^VmRSS:/ { r = \$2 } /^VmHWM:/ { h = \$2 } END { printf "rss_kb=%s hwm_kb=%s", r, h }' /proc/\$pid/status 2> /dev/null)"
    sleep 2
done
wait \$pid
echo "SMBED-EXIT status=\$? uptime=\$(up)"
sync
poweroff -f
EOF
}

make_disk() { # OUT: ext4 image with share/ (a seed file), public/
    local d=$work/disk
    rm -rf "$d"
    mkdir -p "$d/share" "$d/public"
    echo "seed file from mkfs.ext4 -d" > "$d/share/seed.txt"
    echo "public file" > "$d/public/readme.txt"
    # Room for two copies of the test file and smbtorture's files.
    local mb=$((size_mb * 3 + 256))
    mkfs.ext4 -q -F -L smbedtest -d "$d" "$1" "${mb}M" > "$logdir/mkfs.log" 2>&1 ||
        { cat "$logdir/mkfs.log" >&2; return 1; }
}

# --- One architecture --------------------------------------------------------------------
# Results of the current architecture (reset per architecture).
checks_pass=0 checks_fail=0
check() { # NAME OK(0/1) DETAIL
    if [ "$2" = 0 ]; then
        checks_pass=$((checks_pass + 1))
        say "   PASS $1${3:+  ($3)}"
    else
        checks_fail=$((checks_fail + 1))
        say "   FAIL $1${3:+: $3}"
    fi
}
# bg_wait OUTFILE CMD...: runs CMD in the background and waits for it, so that
# a TERM or INT reaching this script runs the EXIT trap (which stops QEMU) at
# once instead of after CMD. Sets RC.
bg_wait() {
    local o=$1
    shift
    RC=0
    "$@" > "$o" 2>&1 < /dev/null &
    bgpid=$!
    wait "$bgpid" || RC=$?
    bgpid=""
}
OUT="" RC=0
smbc() { # TIMEOUT PORT ARGS...: authenticated smbclient on //127.0.0.1/share, sets OUT and RC
    local tmo=$1 port=$2
    shift 2
    bg_wait "$work/smbc.out" timeout -k 5 "$tmo" smbclient -s "$client_conf" //127.0.0.1/share -p "$port" \
        -U "$user1%$pass1" -m SMB3_11 "$@"
    OUT=$(cat "$work/smbc.out")
    if [ "$RC" = 0 ] && grep -q 'NT_STATUS_' <<< "$OUT"; then RC=1; fi
    return 0
}
why() { # short reason of the last smbc
    local l
    l=$(grep -m1 -E 'NT_STATUS_|failed|rror' <<< "$OUT" || true)
    [ -n "$l" ] || l=$(tail -n 1 <<< "$OUT")
    if [ "$RC" = 124 ] || [ "$RC" = 137 ]; then l="timed out after ${smbc_tmo}s; $l"; fi
    echo "rc=$RC ${l:-no output}"
}
rss_lines() { grep -ac '^SMBED-RSS ' "$1" || true; }
rss_last() { grep -a '^SMBED-RSS ' "$1" | tail -n 1 | sed -n "s/.* $2=\\([0-9]*\\).*/\\1/p"; }
wait_rss_after() { # SERIAL N: wait (<= 10 s) until more than N RSS lines were printed
    local deadline=$((SECONDS + 10))
    while [ "$(rss_lines "$1")" -le "$2" ] && [ $SECONDS -lt $deadline ]; do sleep 0.5; done
}
guest_dead() { # SERIAL: QEMU gone or smbed exited
    ! kill -0 "$qpid" 2> /dev/null || grep -aqE '^SMBED-EXIT|Kernel panic' "$1"
}

results=()
declare -A torture_cells=()
fail_row() { # ARCH CPU KERNEL BOOT RESULT: a summary row for an architecture that stopped early
    local r="$1|$2|$3|$4|$checks_pass/$((checks_pass + checks_fail))" s
    for s in "${suites[@]}"; do r+="|-"; done
    results+=("$r|-|-|-|-|$5")
    overall=1
}
overall=0
run_arch() {
    local a=$1 debarch rtarget qbin machine board cpu serial initrd disk mods port t0 boot_s="-" ok
    IFS='|' read -r debarch _ rtarget qbin machine board <<< "$(arch_info "$a")"
    cpu=$(board_value "$board" qemu_system_cpu)
    checks_pass=0 checks_fail=0
    serial=$logdir/serial-$a.log
    initrd=$work/initrd-$a.gz
    disk=$work/disk-$a.img
    say "== $a: $qbin -M $machine -cpu $cpu -smp $smp -m $mem, kernel ${kname[$a]}"
    if ! mods=$(make_initramfs "$a" "$initrd"); then
        fail_row "$a" "$cpu" "${kname[$a]%% *}" - "SETUP FAILED"
        return
    fi
    if ! make_disk "$disk"; then
        fail_row "$a" "$cpu" "${kname[$a]%% *}" - "SETUP FAILED"
        return
    fi
    say "   initramfs $(($(stat -c %s "$initrd") / 1024)) KiB (modules: $mods), disk $(du -h --apparent-size "$disk" | cut -f1)"
    local vmlinuz
    vmlinuz=$(find "${kdir[$a]}/boot" -name 'vmlinuz-*' | head -n 1)

    # Start QEMU; retry with another port when the hostfwd port was taken.
    local attempt
    for attempt in 1 2 3; do
        port=$(pick_free_port)
        : > "$serial"
        t0=$(now)
        timeout -k 5 "$max_life" "$qbin" -M "$machine" -cpu "$cpu" -smp "$smp" -m "$mem" \
            -nodefaults -no-reboot -display none -monitor none -serial "file:$serial" \
            -kernel "$vmlinuz" -initrd "$initrd" \
            -append "console=ttyAMA0 rdinit=/init panic=-1 quiet" \
            -netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$port-:445" \
            -device virtio-net-device,netdev=n0 \
            -drive "file=$disk,format=raw,if=none,id=d0,cache=unsafe" -device virtio-blk-device,drive=d0 \
            -object rng-random,id=rng0,filename=/dev/urandom -device virtio-rng-device,rng=rng0 \
            > "$logdir/qemu-$a.log" 2>&1 < /dev/null &
        qpid=$!
        sleep 0.5
        if kill -0 "$qpid" 2> /dev/null; then break; fi
        wait "$qpid" 2> /dev/null || true
        qpid=""
        if ! grep -q 'hostfwd\|host forwarding' "$logdir/qemu-$a.log" || [ "$attempt" = 3 ]; then
            say "   QEMU did not start: $(head -c 300 "$logdir/qemu-$a.log")"
            fail_row "$a" "$cpu" "${kname[$a]%% *}" - "QEMU FAILED"
            return
        fi
    done
    say "   QEMU under timeout ${max_life}s (pid $qpid), hostfwd 127.0.0.1:$port -> guest :445, serial log $serial"

    # Boot to serving: until an authenticated smbclient ls succeeds. The
    # probes start once /init reports that the network is configured
    # (SMBED-START): a connection QEMU forwards before the guest's eth0 is up
    # waits in SYN retransmission back-off for seconds, which would blur the
    # measurement; after it, a port not yet listening is refused at once.
    ok=1
    local deadline=$((SECONDS + boot_tmo))
    while [ $SECONDS -lt $deadline ]; do
        if guest_dead "$serial"; then break; fi
        if ! grep -aq '^SMBED-START' "$serial"; then sleep 0.1; continue; fi
        smbc 20 "$port" -c ls
        if [ "$RC" = 0 ]; then ok=0; break; fi
        sleep 0.2
    done
    if [ "$ok" = 0 ]; then
        boot_s=$(elapsed "$t0")
        local g_init g_start
        g_init=$(grep -a -m1 '^SMBED-INIT' "$serial" | sed -n 's/.*uptime=\([0-9.]*\).*/\1/p')
        g_start=$(grep -a -m1 '^SMBED-START' "$serial" | sed -n 's/.*uptime=\([0-9.]*\).*/\1/p')
        check "boot to serving" 0 "$boot_s s; guest uptime at /init ${g_init:-?} s, smbed started at ${g_start:-?} s"
    else
        local why_not="not serving within ${boot_tmo}s"
        if guest_dead "$serial"; then why_not="the guest stopped after $(elapsed "$t0") s"; fi
        check "boot to serving" 1 "$why_not; serial log tail: $(grep -a . "$serial" | tail -n 5 | tr '\n' ' ' | cut -c1-400)"
        fail_row "$a" "$cpu" "${kname[$a]%% *}" - "FAILED (no boot)"
        stop_qemu
        return
    fi
    grep -a '^SMBED-ERROR' "$serial" | sed 's/^/   guest: /' || true
    # A fresh reading taken after serving began: the idle RSS.
    local n_rss rss_idle rss_after rss_end hwm
    n_rss=$(rss_lines "$serial")
    wait_rss_after "$serial" "$n_rss"
    rss_idle=$(rss_last "$serial" rss_kb)

    # The seed file of the disk image.
    smbc "$smbc_tmo" "$port" -c "get seed.txt $work/seed-$a.txt"
    if [ "$RC" = 0 ] && grep -q 'mkfs.ext4 -d' "$work/seed-$a.txt" 2> /dev/null; then
        check "get the file mkfs.ext4 -d put on the disk" 0
    else
        check "get the file mkfs.ext4 -d put on the disk" 1 "$(why)"
    fi

    # put / ls / get + sha256, signed and encrypted.
    local prot name t dst sum size rates=()
    for prot in sign encrypt; do
        name=big-$prot.bin
        dst=$work/back-$a-$prot.bin
        rm -f "$dst"
        t=$(now)
        smbc "$smbc_tmo" "$port" --client-protection="$prot" -c "put $src $name"
        if [ "$RC" = 0 ]; then
            local put_s
            put_s=$(elapsed "$t")
            check "$prot: put ${size_mb} MiB" 0 "$put_s s, $(awk -v m="$size_mb" -v s="$put_s" 'BEGIN { printf "%.1f", m / s }') MiB/s"
            rates+=("put $prot $(awk -v m="$size_mb" -v s="$put_s" 'BEGIN { printf "%.1f", m / s }')")
        else
            check "$prot: put ${size_mb} MiB" 1 "$(why)"
        fi
        smbc "$smbc_tmo" "$port" --client-protection="$prot" -c "ls $name"
        size=$(awk -v n="$name" '$1 == n { print $3; exit }' <<< "$OUT")
        if [ "$RC" = 0 ] && [ "$size" = $((size_mb << 20)) ]; then
            check "$prot: ls" 0 "$name $size bytes"
        else
            check "$prot: ls" 1 "size '${size:-none}' (want $((size_mb << 20))); $(why)"
        fi
        t=$(now)
        smbc "$smbc_tmo" "$port" --client-protection="$prot" -c "get $name $dst"
        local get_s
        get_s=$(elapsed "$t")
        sum=$(sha256sum "$dst" 2> /dev/null | cut -d' ' -f1 || true)
        if [ "$RC" = 0 ] && [ "$sum" = "$src_sum" ]; then
            check "$prot: get + sha256" 0 "$get_s s, $(awk -v m="$size_mb" -v s="$get_s" 'BEGIN { printf "%.1f", m / s }') MiB/s"
            rates+=("get $prot $(awk -v m="$size_mb" -v s="$get_s" 'BEGIN { printf "%.1f", m / s }')")
        else
            check "$prot: get + sha256" 1 "sha256 ${sum:-none} want $src_sum; $(why)"
        fi
        rm -f "$dst"
        if guest_dead "$serial"; then break; fi
    done
    smbc "$smbc_tmo" "$port" -c "rm big-sign.bin; rm big-encrypt.bin"
    n_rss=$(rss_lines "$serial")
    wait_rss_after "$serial" "$n_rss"
    rss_after=$(rss_last "$serial" rss_kb)

    # smbtorture through tests/interop/torture.sh against the guest.
    local tout=$logdir/torture-$a suite line tests succ other trc=0
    rm -rf "$tout"
    mkdir -p "$tout"
    if ! guest_dead "$serial"; then
        say "   smbtorture ${suites[*]} (tests/interop/torture.sh, timeout ${TORTURE_TIMEOUT}s per test)"
        bg_wait "$tout/torture.log" env TORTURE_PORT="$port" TORTURE_QUIET=1 TORTURE_OUT="$tout" \
            bash "$root/tests/interop/torture.sh" "${suites[@]}"
        trc=$RC
        grep -E '^(failure|error|timeout|crash) |^REGRESSION|^MISSING|^SUITE|^interop torture' "$tout/torture.log" | sed 's/^/   /' || true
    else
        trc=1
    fi
    for suite in "${suites[@]}"; do
        line=$(grep -E "^SUITE $suite: " "$tout/torture.log" 2> /dev/null || true)
        tests=$(sed -n 's/^SUITE [^:]*: \([0-9]*\) tests.*/\1/p' <<< "$line")
        succ=$(grep -oE '[0-9]+ success' <<< "$line" | cut -d' ' -f1 || true)
        # "passed/tests", then the other outcomes: "6/8 (1 failure, 1 skip)"
        other=$(sed -n 's/^SUITE [^:]*: [0-9]* tests, //p' <<< "$line" | tr ',' '\n' |
            grep -vE 'success|^ *[0-9]+s$' | sed 's/^ *//' | paste -sd, - | sed 's/,/, /g' || true)
        torture_cells[$a,$suite]="${succ:-0}/${tests:-?}${other:+ ($other)}"
    done
    local regs
    regs=$(grep -cE '^(REGRESSION|MISSING)' "$tout/torture.log" 2> /dev/null || true)
    if [ "$trc" = 0 ]; then
        check "smbtorture ${suites[*]}" 0 "$(grep -E '^interop torture' "$tout/torture.log" | sed 's/^interop torture: //')"
    else
        check "smbtorture ${suites[*]}" 1 "exit status $trc, ${regs:-?} regressions against tests/interop/torture-expected.txt; log $tout/torture.log"
    fi

    # RSS after everything, peak.
    n_rss=$(rss_lines "$serial")
    wait_rss_after "$serial" "$n_rss"
    rss_end=$(rss_last "$serial" rss_kb)
    hwm=$(rss_last "$serial" hwm_kb)
    if guest_dead "$serial"; then
        check "guest smbed alive at the end" 1 "$(grep -a -E '^SMBED-EXIT|Kernel panic' "$serial" | head -n 2 | tr '\n' ' ')"
    else
        check "guest smbed alive at the end" 0
    fi
    stop_qemu

    local result=ok
    if [ "$checks_fail" -gt 0 ]; then result=FAILED; overall=1; fi
    local tcells="" s
    for s in "${suites[@]}"; do tcells+="|${torture_cells[$a,$s]}"; done
    results+=("$a|$cpu|${kname[$a]%% *}|$boot_s|$((checks_pass))/$((checks_pass + checks_fail))$tcells|${rss_idle:-?}|${rss_after:-?}|${rss_end:-?}|${hwm:-?}|$result")
    rate_rows+=("$a|$(printf '%s, ' "${rates[@]}" | sed 's/, $//')")
    say "   $a: $result ($checks_pass passed, $checks_fail failed)"
}

rate_rows=()
for a in "${archs[@]}"; do
    run_arch "$a"
done

# --- Summary ------------------------------------------------------------------------------
echo
say "Summary (qemu-system, $mode set, ${size_mb} MiB file). checks: boot, smbclient and smbtorture checks passed/run;"
say "smbtorture columns: passed/tests per suite (regressions against tests/interop/torture-expected.txt fail the run);"
say "RSS: the guest smbed's VmRSS in KiB read in the guest: idle after boot, after the transfers, at the end; peak: VmHWM."
{
    hdr="arch|CPU|kernel|boot-to-serving s|checks"
    for s in "${suites[@]}"; do hdr+="|$s"; done
    echo "$hdr|RSS idle|RSS xfer|RSS end|peak|result"
    printf '%s\n' "${results[@]}"
} | table
if [ ${#rate_rows[@]} -gt 0 ]; then
    echo
    echo "smbclient MiB/s under TCG emulation (for orientation only, says nothing about a board):"
    printf '%s\n' "${rate_rows[@]}" | sed 's/|/: /' | sed 's/^/  /'
fi
n_ok=0 n_bad=0
for r in "${results[@]}"; do
    if [ "${r##*|}" = ok ]; then n_ok=$((n_ok + 1)); else n_bad=$((n_bad + 1)); fi
done
say "total: $(elapsed "$t_start") s"
say "qemu-system: $n_ok passed, $n_bad failed"
exit "$overall"
