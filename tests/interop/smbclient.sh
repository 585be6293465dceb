#!/usr/bin/env bash
# tests/interop/smbclient.sh - drive Samba's smbclient against a private smbed.
#
# For every dialect (SMB2_02, SMB2_10, SMB3_00, SMB3_02, SMB3_11; client min =
# max, so exactly that dialect is negotiated) and every --client-protection
# (off, sign, and encrypt for SMB3 dialects): ls, mkdir, put, get (sha256),
# allinfo, rename, rm, rmdir, each checked on the server's file system too.
# Once per run: a 100 MiB put/get, a directory of 5,000 files, wrong password,
# guest access, a read-only share, mandatory signing, and `..`/symlink escapes.
#
# Prints `PASS name` / `FAIL name: reason` per check and a summary line
# `interop smbclient: N passed, M failed`; exits 1 on any failure.
#
# Env: SMBED (binary), SMBC_TIMEOUT (seconds per smbclient call, default 120),
#      INTEROP_QUICK=1 (skip the 100 MiB and 5,000-file checks),
#      SMBED_KEEP=1 (keep the temp dirs for debugging).
set -uo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v smbclient >/dev/null || { echo "FAIL setup: smbclient not installed"; echo "interop smbclient: 0 passed, 1 failed"; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/smbclient-interop.XXXXXX")
INTEROP_CLEANUP+=("rm -rf '$WORK'")

SMBC_TIMEOUT=${SMBC_TIMEOUT:-120}
# A private client configuration, so /etc/samba/smb.conf cannot change the results.
CLIENT_CONF=$WORK/client.conf
printf '[global]\n\tclient min protocol = SMB2_02\n' >"$CLIENT_CONF"

OUT= RC=0
# smbc SHARE [smbclient args...]: runs smbclient, sets OUT (stdout+stderr) and RC
smbc() {
    local share=$1; shift
    OUT=$(timeout -k 5 "$SMBC_TIMEOUT" smbclient -s "$CLIENT_CONF" "//127.0.0.1/$share" \
        -p "$SMBED_PORT" "$@" 2>&1)
    RC=$?
}
# ok: the last smbclient call succeeded and printed no NT_STATUS error
ok() { [[ $RC -eq 0 ]] && ! grep -q 'NT_STATUS_' <<<"$OUT"; }
# why: a short reason from the last call
why() {
    local l
    l=$(grep -m1 -E 'NT_STATUS_|failed|error|Error' <<<"$OUT")
    [[ -z $l ]] && l=$(tail -n1 <<<"$OUT")
    [[ $RC -eq 124 || $RC -eq 137 ]] && l="timed out after ${SMBC_TIMEOUT}s; $l"
    echo "rc=$RC ${l:-no output}"
}
server_check() {  # the server process must survive every check
    smbed_alive || { fail "server alive" "smbed (pid $SMBED_PID) died; log tail: $(tail -n5 "$SMBED_LOG" 2>/dev/null)"; return 1; }
}

AUTH=(-U "$SMB_USER1%$SMB_PASS1")
now() { date +%s.%N; }
elapsed() { awk -v a="$(now)" -v b="$1" 'BEGIN {printf "%.1f", a - b}'; }

if ! smbed_start; then
    fail "start smbed" "see messages above"
    echo "interop smbclient: $N_PASS passed, $N_FAIL failed"
    exit 1
fi
echo "# smbed pid $SMBED_PID on 127.0.0.1:$SMBED_PORT, dir $SMBED_DIR"

# Test data
SMALL=$WORK/small.bin
head -c 1500000 /dev/urandom >"$SMALL"     # > 1 MiB: several reads/writes at 2.02
SMALL_SUM=$(sha256_of "$SMALL")
SMALL_SIZE=$(stat -c %s "$SMALL")

# ---------------------------------------------------------------------------
# Dialect x protection matrix
# ---------------------------------------------------------------------------
run_mode() {  # PROTO PROTECTION
    local proto=$1 prot=$2
    local n="$proto/$prot"
    local d="m_${proto}_${prot}"
    local sd=$SMBED_SHARE_DIR/$d
    local m=(-m "$proto" --option="client min protocol=$proto" --client-protection="$prot" "${AUTH[@]}")

    smbc share "${m[@]}" -c 'ls'
    if ok && grep -q 'blocks of size' <<<"$OUT"; then pass "$n ls"; else fail "$n ls" "$(why)"; fi

    smbc share "${m[@]}" -c "mkdir $d"
    if ok && [[ -d $sd ]]; then pass "$n mkdir"; else fail "$n mkdir" "$(why); dir on server: $([[ -d $sd ]] && echo yes || echo no)"; fi

    smbc share "${m[@]}" -c "put $SMALL $d\\f.bin"
    if ok && [[ -f $sd/f.bin && $(sha256_of "$sd/f.bin") == "$SMALL_SUM" ]]; then
        pass "$n put"
    else
        fail "$n put" "$(why); server copy: $( [[ -f $sd/f.bin ]] && echo "$(stat -c %s "$sd/f.bin") bytes, sha256 $(sha256_of "$sd/f.bin" | cut -c1-12)" || echo missing)"
    fi

    rm -f "$WORK/got.bin"
    smbc share "${m[@]}" -c "get $d\\f.bin $WORK/got.bin"
    if ok && [[ -f $WORK/got.bin && $(sha256_of "$WORK/got.bin") == "$SMALL_SUM" ]]; then
        pass "$n get sha256"
    else
        fail "$n get sha256" "$(why); local copy: $( [[ -f $WORK/got.bin ]] && echo "$(stat -c %s "$WORK/got.bin") bytes" || echo missing)"
    fi

    smbc share "${m[@]}" -c "allinfo $d\\f.bin"
    if ok && grep -q '^create_time:' <<<"$OUT" && grep -q '^write_time:' <<<"$OUT" &&
        grep -q "^stream: \[::\$DATA\], $SMALL_SIZE bytes" <<<"$OUT"; then
        pass "$n allinfo"
    else
        fail "$n allinfo" "$(why)"
    fi

    smbc share "${m[@]}" -c "rename $d\\f.bin $d\\g.bin"
    if ok && [[ -f $sd/g.bin && ! -e $sd/f.bin ]]; then pass "$n rename"; else fail "$n rename" "$(why)"; fi

    smbc share "${m[@]}" -c "ls $d\\*"
    if ok && grep -qE "^  g\.bin +A +$SMALL_SIZE " <<<"$OUT"; then pass "$n ls dir"; else fail "$n ls dir" "$(why)"; fi

    smbc share "${m[@]}" -c "rm $d\\g.bin"
    if ok && [[ ! -e $sd/g.bin ]]; then pass "$n rm"; else fail "$n rm" "$(why)"; fi

    smbc share "${m[@]}" -c "rmdir $d"
        if ok && [[ ! -e $sd ]]; then pass "$n rmdir"; else fail "$n rmdir" "$(why)"; fi

    # LOGOFF answers (signed or sealed with the session it ends); the next command on the
    # logged-off session is refused, and the server lives on.
    smbc share "${m[@]}" -c "ls; logoff"
    if [[ $RC -eq 0 ]] && grep -q 'logoff successful' <<<"$OUT"; then pass "$n logoff"; else fail "$n logoff" "$(why)"; fi
    server_check
}


for proto in SMB2_02 SMB2_10 SMB3_00 SMB3_02 SMB3_11; do
    prots=(off sign)
    [[ $proto == SMB3* ]] && prots+=(encrypt)
    for prot in "${prots[@]}"; do
        run_mode "$proto" "$prot"
    done
done

# ---------------------------------------------------------------------------
# `valid users = @staff`: groups of the account database (`smbed group ...`), changed while
# the server runs
# ---------------------------------------------------------------------------
smbc staff "${AUTH[@]}" -c 'ls'
if [[ $RC -ne 0 ]] && grep -q 'NT_STATUS_ACCESS_DENIED' <<<"$OUT"; then
    pass "@staff share refuses a user before the group exists"
else
    fail "@staff share refuses a user before the group exists" "$(why)"
fi
if gout=$("$SMBED" group add staff --config "$SMBED_CONF" 2>&1 &&
    "$SMBED" group addmem staff "$SMB_USER1" --config "$SMBED_CONF" 2>&1) &&
    "$SMBED" group list --config "$SMBED_CONF" 2>&1 | grep -qi "^staff:$SMB_USER1\$"; then
    pass "smbed group add/addmem/list"
else
    fail "smbed group add/addmem/list" "$gout"
fi
smbc staff "${AUTH[@]}" -c 'ls'
if ok && grep -q 'blocks of size' <<<"$OUT"; then pass "@staff member connects"; else fail "@staff member connects" "$(why)"; fi
smbc staff -U "$SMB_USER2%$SMB_PASS2" -c 'ls'
if [[ $RC -ne 0 ]] && grep -q 'NT_STATUS_ACCESS_DENIED' <<<"$OUT"; then
    pass "@staff share refuses a non-member"
else
    fail "@staff share refuses a non-member" "$(why)"
fi
server_check

# ---------------------------------------------------------------------------
# Share list and server info over DCE/RPC (IPC$, srvsvc)
# ---------------------------------------------------------------------------
OUT=$(timeout -k 5 "$SMBC_TIMEOUT" smbclient -s "$CLIENT_CONF" -L 127.0.0.1 -p "$SMBED_PORT" "${AUTH[@]}" 2>&1)
RC=$?
if ok && grep -qE '^[[:space:]]+share[[:space:]]+Disk' <<<"$OUT" &&
        grep -qE '^[[:space:]]+public[[:space:]]+Disk' <<<"$OUT" && grep -qE '^[[:space:]]+staff[[:space:]]+Disk' <<<"$OUT" && grep -qE '^[[:space:]]+IPC\$[[:space:]]+IPC' <<<"$OUT"; then
    pass "smbclient -L lists the shares"
else
    fail "smbclient -L lists the shares" "$(why)"
fi
OUT=$(timeout -k 5 "$SMBC_TIMEOUT" rpcclient -p "$SMBED_PORT" "${AUTH[@]}" -c 'srvinfo; netshareenumall' 127.0.0.1 2>&1)
RC=$?
if [[ $RC -eq 0 ]] && grep -qi 'SMBEDTEST' <<<"$OUT" && grep -q 'netname: share' <<<"$OUT"; then
    pass "rpcclient srvinfo + netshareenumall"
else
    fail "rpcclient srvinfo + netshareenumall" "$(why)"
fi
server_check

# ---------------------------------------------------------------------------
# Large transfers (once per run)
# ---------------------------------------------------------------------------
if [[ ${INTEROP_QUICK:-0} != 1 ]]; then
    BIG=$WORK/big.bin
    head -c $((100 * 1024 * 1024)) /dev/urandom >"$BIG"
    BIG_SUM=$(sha256_of "$BIG")
    t0=$(now)
    smbc share -m SMB3_11 "${AUTH[@]}" -c "put $BIG big.bin"
    t_put=$(elapsed "$t0")
    if ok && [[ -f $SMBED_SHARE_DIR/big.bin && $(sha256_of "$SMBED_SHARE_DIR/big.bin") == "$BIG_SUM" ]]; then
        pass "100MiB put sha256"
    else
        fail "100MiB put sha256" "$(why); server copy: $(stat -c %s "$SMBED_SHARE_DIR/big.bin" 2>/dev/null || echo missing) bytes"
    fi
    t0=$(now)
    smbc share -m SMB3_11 "${AUTH[@]}" -c "get big.bin $WORK/big.back"
    t_get=$(elapsed "$t0")
    if ok && [[ -f $WORK/big.back && $(sha256_of "$WORK/big.back") == "$BIG_SUM" ]]; then
        pass "100MiB get sha256"
    else
        fail "100MiB get sha256" "$(why); local copy: $(stat -c %s "$WORK/big.back" 2>/dev/null || echo missing) bytes"
    fi
    echo "# 100 MiB: put ${t_put}s, get ${t_get}s"
    rm -f "$BIG" "$WORK/big.back" "$SMBED_SHARE_DIR/big.bin"

    # 5,000 files in one directory
    NFILES=5000
    MANY=$WORK/many
    mkdir -p "$MANY"
    (cd "$MANY" && for i in $(seq -w 1 $NFILES); do echo "file $i" >"f$i.txt"; done)
    t0=$(now)
    smbc share -m SMB3_11 "${AUTH[@]}" -c "mkdir many; cd many; lcd $MANY; prompt off; mput *"
    t_mput=$(elapsed "$t0")
    n_srv=$(find "$SMBED_SHARE_DIR/many" -maxdepth 1 -type f 2>/dev/null | wc -l)
    if ok && [[ $n_srv -eq $NFILES ]]; then
        pass "5000 files mput"
    else
        fail "5000 files mput" "$(why); $n_srv files on server"
    fi
    t0=$(now)
    smbc share -m SMB3_11 "${AUTH[@]}" -c 'ls many\*'
    t_ls=$(elapsed "$t0")
    n_files=$(grep -cE '^  f[0-9]+\.txt +A +' <<<"$OUT")
    n_dots=$(grep -cE '^  \.{1,2} +D +' <<<"$OUT")
    n_uniq=$(grep -E '^  f[0-9]+\.txt +A +' <<<"$OUT" | awk '{print $1}' | sort -u | wc -l)
    if ok && [[ $n_files -eq $NFILES && $n_uniq -eq $NFILES && $n_dots -eq 2 ]]; then
        pass "5000 files ls"
    else
        fail "5000 files ls" "$(why); listed $n_files files ($n_uniq distinct) + $n_dots dot entries, expected $NFILES + 2"
    fi
    t0=$(now)
    smbc share -m SMB3_11 "${AUTH[@]}" -c 'rm many\*; rmdir many'
    t_rm=$(elapsed "$t0")
    if ok && [[ ! -e $SMBED_SHARE_DIR/many ]]; then
        pass "5000 files rm"
    else
        fail "5000 files rm" "$(why); $(find "$SMBED_SHARE_DIR/many" -maxdepth 1 -type f 2>/dev/null | wc -l) files left"
    fi
    echo "# 5000 files: mput ${t_mput}s, ls ${t_ls}s, rm ${t_rm}s"
    rm -rf "$MANY" "$SMBED_SHARE_DIR/many"
    server_check
fi

# ---------------------------------------------------------------------------
# Authentication and authorisation
# ---------------------------------------------------------------------------
smbc share -U "$SMB_USER1%wrong-password" -c ls
if [[ $RC -ne 0 ]] && grep -q NT_STATUS_LOGON_FAILURE <<<"$OUT"; then
    pass "wrong password refused"
else
    fail "wrong password refused" "expected NT_STATUS_LOGON_FAILURE, got: $(why)"
fi

smbc share -U "$SMB_USER2%$SMB_PASS2" -c ls
if ok && grep -q 'blocks of size' <<<"$OUT"; then pass "second user bob"; else fail "second user bob" "$(why)"; fi

# An unknown user becomes a guest (map to guest = bad user): [share] is not guest ok.
smbc share -U 'nosuchuser%whatever' -c ls
if [[ $RC -ne 0 ]] && grep -q NT_STATUS_ <<<"$OUT" && ! grep -q 'blocks of size' <<<"$OUT"; then
    pass "guest refused on non-guest share"
else
    fail "guest refused on non-guest share" "guest could list [share]: $(why)"
fi
smbc share -N -c ls
if [[ $RC -ne 0 ]] && grep -q NT_STATUS_ <<<"$OUT" && ! grep -q 'blocks of size' <<<"$OUT"; then
    pass "anonymous refused on non-guest share"
else
    fail "anonymous refused on non-guest share" "anonymous could list [share]: $(why)"
fi
smbc public -U 'nosuchuser%whatever' -c ls
if ok && grep -q 'readme.txt' <<<"$OUT"; then pass "guest on guest share"; else fail "guest on guest share" "$(why)"; fi

# [public] is read only, even for an authenticated user.
smbc public "${AUTH[@]}" -c "put $SMALL ro.bin"
if [[ $RC -ne 0 ]] && grep -q NT_STATUS_ <<<"$OUT" && [[ ! -e $SMBED_PUBLIC_DIR/ro.bin ]]; then
    pass "read-only share refuses put"
else
    fail "read-only share refuses put" "$(why); file on server: $([[ -e $SMBED_PUBLIC_DIR/ro.bin ]] && echo yes || echo no)"
fi
smbc public "${AUTH[@]}" -c "rm readme.txt"
if [[ -e $SMBED_PUBLIC_DIR/readme.txt ]] && grep -q NT_STATUS_ <<<"$OUT"; then
    pass "read-only share refuses rm"
else
    fail "read-only share refuses rm" "$(why); readme.txt on server: $([[ -e $SMBED_PUBLIC_DIR/readme.txt ]] && echo yes || echo no)"
fi

# ---------------------------------------------------------------------------
# Escapes: nothing outside the share may be reached
# ---------------------------------------------------------------------------
TOKEN="canary-$RANDOM-$RANDOM-$$"
echo "$TOKEN" >"$SMBED_DIR/canary.txt"           # next to share/, outside it
mkdir -p "$SMBED_SHARE_DIR/sub"
ln -s ../canary.txt "$SMBED_SHARE_DIR/canary-link"  # symlink to a file outside
ln -s .. "$SMBED_SHARE_DIR/up-link"                 # symlink to the parent directory
ln -s / "$SMBED_SHARE_DIR/root-link"                # symlink to /

leaked() {  # true if the last output or any fetched file shows the canary / passwd
    grep -q "$TOKEN" <<<"$OUT" && return 0
    # a directory listing showing what is next to share/ (not error messages naming it)
    grep -qE '^  (canary\.txt|smb\.conf|smbed\.log|state|public|share|etc|proc) +[A-Z]* +[0-9]+ ' <<<"$OUT" && return 0
    grep -qs "$TOKEN" "$WORK"/esc.* && return 0
    grep -qs '^root:' "$WORK"/esc.* && return 0
    return 1
}
esc_check() {  # NAME smbclient-commands
    local name=$1 cmds=$2
    rm -f "$WORK"/esc.*
    smbc share "${AUTH[@]}" -c "$cmds"
    if leaked; then
        fail "escape $name" "content outside the share was reachable: $(why)"
    elif [[ $RC -eq 124 || $RC -eq 137 ]]; then
        fail "escape $name" "$(why)"
    else
        pass "escape $name"
    fi
}
esc_check "get ../canary"            "get ../canary.txt $WORK/esc.1"
esc_check "get ..\\canary"           "get ..\\canary.txt $WORK/esc.2"
esc_check "get ../../etc/passwd"     "get ../../etc/passwd $WORK/esc.3"
esc_check "get ..\\..\\..\\etc\\passwd" "get ..\\..\\..\\..\\..\\etc\\passwd $WORK/esc.4"
esc_check "get sub/../../canary"     "get sub\\..\\..\\canary.txt $WORK/esc.5"
esc_check "cd .. at root, ls"        "cd ..; ls; cd ..\\..; ls"
esc_check "cd .. at root, get"       "cd ..; get canary.txt $WORK/esc.6"
esc_check "symlink to outside file"  "get canary-link $WORK/esc.7"
esc_check "symlink to parent dir"    "ls up-link\\*; get up-link\\canary.txt $WORK/esc.8"
esc_check "symlink to /"             "get root-link\\etc\\passwd $WORK/esc.9"
# And the "cd .. at root" listing must be the share root itself.
smbc share "${AUTH[@]}" -c 'cd ..; ls'
if ok && grep -qE '^  sub +D ' <<<"$OUT"; then
    pass "cd .. at root stays in share"
else
    fail "cd .. at root stays in share" "$(why)"
fi
rm -f "$SMBED_SHARE_DIR/canary-link" "$SMBED_SHARE_DIR/up-link" "$SMBED_SHARE_DIR/root-link"
rmdir "$SMBED_SHARE_DIR/sub" 2>/dev/null
server_check

# ---------------------------------------------------------------------------
# server signing = mandatory (smbclient signs whenever the server requires it)
# ---------------------------------------------------------------------------
smbed_stop
SMBED_SIGNING=mandatory
if smbed_start; then
    for proto in SMB2_02 SMB3_11; do
        for prot in off sign; do
            n="signing mandatory $proto/$prot"
            m=(-m "$proto" --option="client min protocol=$proto" --client-protection="$prot" "${AUTH[@]}")
            rm -f "$WORK/got.bin"
            smbc share "${m[@]}" -c "put $SMALL s.bin; get s.bin $WORK/got.bin; rm s.bin; ls"
            if ok && [[ -f $WORK/got.bin && $(sha256_of "$WORK/got.bin") == "$SMALL_SUM" ]]; then
                pass "$n"
            else
                fail "$n" "$(why)"
            fi
        done
    done
    server_check
else
    fail "signing mandatory start" "smbed did not start with server signing = mandatory"
fi
SMBED_SIGNING=auto

echo "interop smbclient: $N_PASS passed, $N_FAIL failed"
[[ $N_FAIL -eq 0 ]]
