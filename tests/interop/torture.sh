#!/usr/bin/env bash
# tests/interop/torture.sh - run smbtorture leaf tests against a private smbed and
# compare the results with torture-expected.txt.
#
#   tests/interop/torture.sh                      # the default suites (below)
#   tests/interop/torture.sh smb2.read smb2.dir.find
#   tests/interop/torture.sh --update-expected    # refresh torture-expected.txt
#
# Every argument (suite or test) is expanded with `smbtorture --list ARG` into
# leaf tests (smbtorture prints a leaf as "a.b.c.c": the duplicated last component
# is dropped; only ARG itself and ARG.* are kept). Each leaf runs in its own
# smbtorture process under a timeout:
#   smbtorture //127.0.0.1/share -p PORT -U alice%Passw0rd! \
#       --option=torture:user2name=bob --option=torture:user2password=Passw0rd2! \
#       --format=subunit --fullname TEST
# and its subunit `success:`/`failure:`/`skip:`/`error:` lines decide the result
# (the worst one wins when a leaf reports several). A test without a result is
# `timeout` (killed) or `error`; a test during which smbed died is `crash` (the
# server is then restarted). Each argument gets a fresh smbed.
#
# Results: one line per test (`result secs test [reason]`), a TSV file
# ($TORTURE_OUT/results.tsv: suite, test, result, secs, reason), then the
# comparison with the expected list:
#   REGRESSION test   an expected test did not pass    -> exit status 1
#   NEW PASS test     a test passed that is not listed -> add it (--update-expected)
# and the summary line `interop torture: N passed, M failed (regressions), ...`.
#
# Tests listed in torture-exclude.txt (glob patterns, # comments) never run.
#
# Options:
#   --update-expected   run everything TORTURE_REPEAT times (default 2) and write
#                       the tests that passed every time into the expected list;
#                       entries for tests not run now are kept. Exit status 0.
#   --no-compare        just run and report, ignore the expected list
# Env:
#   SMBED                 the smbed binary (default: target/debug or release)
#   TORTURE_TIMEOUT=60    seconds per test
#   TORTURE_OUT=DIR       logs + results.tsv (default: a new temp dir, kept)
#   TORTURE_EXPECTED=F    (default tests/interop/torture-expected.txt)
#   TORTURE_EXCLUDE=F     (default tests/interop/torture-exclude.txt)
#   TORTURE_PORT=P        use an already running server on 127.0.0.1:P instead of
#                         starting smbed (it must export [share] to alice and bob)
#   TORTURE_EXTRA="..."   extra smbtorture arguments (e.g. "-m SMB3_11")
#   TORTURE_QUIET=1       print only failures/regressions, not every test
set -uo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DEFAULT_SUITES=(
    smb2.connect smb2.read smb2.rw smb2.getinfo smb2.setinfo smb2.dir smb2.rename
    smb2.mkdir smb2.tcon smb2.fileid smb2.timestamps smb2.delete-on-close-perms
    smb2.compound smb2.credits smb2.create smb2.session
)

UPDATE=0
COMPARE=1
ARGS=()
for a in "$@"; do
    case $a in
        --update-expected) UPDATE=1 ;;
        --no-compare) COMPARE=0 ;;
        -h|--help) awk 'NR>1 && /^#/ {sub(/^# ?/,""); print; next} NR>1 {exit}' "$0"; exit 0 ;;
        -*) echo "torture.sh: unknown option $a" >&2; exit 2 ;;
        *) ARGS+=("$a") ;;
    esac
done
[[ ${#ARGS[@]} -eq 0 ]] && ARGS=("${DEFAULT_SUITES[@]}")

command -v smbtorture >/dev/null || {
    echo "FAIL setup: smbtorture not installed (apt-get install samba-testsuite)"
    echo "interop torture: 0 passed, 1 failed"
    exit 1
}

TMO=${TORTURE_TIMEOUT:-60}
EXPECTED=${TORTURE_EXPECTED:-$INTEROP_DIR/torture-expected.txt}
EXCLUDE=${TORTURE_EXCLUDE:-$INTEROP_DIR/torture-exclude.txt}
OUT=${TORTURE_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/torture-out.XXXXXX")}
TSV=$OUT/results.tsv
QUIET=${TORTURE_QUIET:-0}
REPEAT=1
[[ $UPDATE == 1 ]] && REPEAT=${TORTURE_REPEAT:-2}
read -r -a EXTRA <<<"${TORTURE_EXTRA:-}"
mkdir -p "$OUT/logs" "$OUT/tmp"
CLIENT_CONF=$OUT/client.conf
printf '[global]\n\tclient min protocol = SMB2_02\n' >"$CLIENT_CONF"

# list FILE: entries of a list file (comments and blanks dropped)
list() { [[ -f $1 ]] && sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e 's/^[[:space:]]*//' -e '/^$/d' "$1"; }
mapfile -t EXCL < <(list "$EXCLUDE")
is_excluded() { local p; for p in "${EXCL[@]}"; do [[ $1 == $p ]] && return 0; done; return 1; }

expand() {  # suite or test -> leaf test names
    smbtorture --list "$1" 2>/dev/null | grep -v '^smbtorture ' |
        awk -F. '{ if (NF>=2 && $NF==$(NF-1)) { s=$1; for(i=2;i<NF;i++) s=s"."$i; print s } else print }' |
        awk -v a="$1" '$0 == a || index($0, a ".") == 1'
}

server_up() {  # make sure a server is running; sets PORT
    if [[ -n ${TORTURE_PORT:-} ]]; then PORT=$TORTURE_PORT; return 0; fi
    if ! smbed_alive; then
        smbed_stop
        smbed_start || return 1
    fi
    PORT=$SMBED_PORT
}
server_fresh() {
    [[ -n ${TORTURE_PORT:-} ]] && { PORT=$TORTURE_PORT; return 0; }
    smbed_stop
    smbed_start || return 1
    PORT=$SMBED_PORT
}

# run_test SUITE TEST PASS#: runs one leaf, appends to $TSV, sets RES
run_test() {
    local suite=$1 t=$2 pass_no=$3 res why secs log rc results t0 t1
    if is_excluded "$t"; then
        res=excluded; secs=0; why="listed in $(basename "$EXCLUDE")"
    elif ! server_up; then
        res=error; secs=0; why="smbed did not start"
    else
        log="$OUT/logs/$t.$pass_no.log"
        t0=$(date +%s.%N)
        timeout -k 5 "$TMO" smbtorture "//127.0.0.1/share" -p "$PORT" \
            -U "$SMB_USER1%$SMB_PASS1" \
            --option="torture:user2name=$SMB_USER2" --option="torture:user2password=$SMB_PASS2" \
            --configfile="$CLIENT_CONF" --basedir="$OUT/tmp" \
            --format=subunit --fullname "${EXTRA[@]}" "$t" >"$log" 2>&1 </dev/null
        rc=$?
        t1=$(date +%s.%N)
        secs=$(awk -v a="$t1" -v b="$t0" 'BEGIN{printf "%.2f", a-b}')
        results=$(grep -E '^(success|successful|failure|fail|error|skip|xfail|uxsuccess|todo):' "$log" |
            cut -d: -f1 | sort -u)
        why=
        if grep -qxE '(failure|fail|uxsuccess)' <<<"$results"; then res=failure
        elif grep -qxE 'error' <<<"$results"; then res=error
        elif grep -qxE '(success|successful|xfail)' <<<"$results"; then res=success
        elif grep -qxE '(skip|todo)' <<<"$results"; then res=skip
        elif [[ $rc -eq 124 || $rc -eq 137 ]]; then res=timeout
        else res=error; why="no subunit result, rc=$rc"
        fi
        [[ $res == success && ($rc -eq 124 || $rc -eq 137) ]] && res=timeout
        if [[ $res == timeout ]]; then
            why="killed after ${TMO}s"
        elif [[ $res != success && -z $why ]]; then
            why=$(grep -E -A3 '^(failure|error|skip|uxsuccess):' "$log" |
                grep -vE '^(failure|error|skip|uxsuccess|time|--)' | grep -v '^\]' |
                grep -v '^[[:space:]]*$' | head -1 | cut -c1-200)
        fi
        if [[ -z ${TORTURE_PORT:-} ]] && ! smbed_alive; then
            why="smbed died during the test ($(smbed_exit_reason); test result: $res${why:+: $why}); log tail: $(tail -n3 "$SMBED_LOG" 2>/dev/null | tr '\n\t' '  ' | cut -c1-200)"
            res=crash
            cp "$SMBED_LOG" "$OUT/logs/$t.$pass_no.smbed.log" 2>/dev/null
        fi
    fi
    why=${why//$'\t'/ }; why=${why//$'\n'/ }
    printf '%s\t%s\t%s\t%s\t%s\n' "$suite" "$t" "$res" "$secs" "$why" >>"$TSV"
    if [[ $QUIET != 1 || $res != success && $res != excluded && $res != skip ]]; then
        printf '%-9s %7ss  %s%s\n' "$res" "$secs" "$t" "${why:+  [$why]}"
    fi
    RES=$res
}

declare -A RESULT=()     # test -> result of the last pass
declare -A PASSCOUNT=()  # test -> number of passes in which it succeeded
declare -A SEEN=()       # test -> 1 (part of this run)
ORDER=()
n_missing_args=0

echo "# torture.sh: $(smbtorture --version 2>/dev/null | head -1), timeout ${TMO}s/test, out $OUT"
: >"$TSV"
for pass_no in $(seq 1 "$REPEAT"); do
    [[ $REPEAT -gt 1 ]] && echo "# pass $pass_no of $REPEAT"
    for arg in "${ARGS[@]}"; do
        mapfile -t tests < <(expand "$arg")
        if [[ ${#tests[@]} -eq 0 ]]; then
            echo "error     0s  $arg  [no such test or suite in this smbtorture]"
            [[ $pass_no == 1 ]] && n_missing_args=$((n_missing_args + 1))
            continue
        fi
        server_fresh || echo "# warning: smbed did not start for $arg"
        s_start=$SECONDS
        declare -A cnt=()
        for t in "${tests[@]}"; do
            run_test "$arg" "$t" "$pass_no"
            cnt[$RES]=$((${cnt[$RES]:-0} + 1))
            if [[ -z ${SEEN[$t]:-} ]]; then SEEN[$t]=1; ORDER+=("$t"); fi
            RESULT[$t]=$RES
            [[ $RES == success ]] && PASSCOUNT[$t]=$((${PASSCOUNT[$t]:-0} + 1))
        done
        line="SUITE $arg: ${#tests[@]} tests"
        for r in success failure error timeout crash skip excluded; do
            [[ -n ${cnt[$r]:-} ]] && line+=", ${cnt[$r]} $r"
        done
        echo "$line, $((SECONDS - s_start))s"
        unset cnt
    done
done
[[ -z ${TORTURE_PORT:-} ]] && smbed_stop

n_pass=0 n_notpass=0 n_excl=0
for t in "${ORDER[@]}"; do
    case ${RESULT[$t]} in
        success) n_pass=$((n_pass + 1)) ;;
        excluded) n_excl=$((n_excl + 1)) ;;
        *) n_notpass=$((n_notpass + 1)) ;;
    esac
done

if [[ $UPDATE == 1 ]]; then
    reliable=()
    for t in "${ORDER[@]}"; do
        [[ ${PASSCOUNT[$t]:-0} -eq $REPEAT ]] && reliable+=("$t")
    done
    flaky=()
    for t in "${ORDER[@]}"; do
        c=${PASSCOUNT[$t]:-0}
        [[ $c -gt 0 && $c -lt $REPEAT ]] && flaky+=("$t")
    done
    tmp=$(mktemp)
    {
        echo "# smbtorture tests expected to pass against smbed (tests/interop/torture.sh)."
        echo "# One test per line; '#' starts a comment. An expected test that fails is a"
        echo "# regression. Refresh with: tests/interop/torture.sh --update-expected [SUITE...]"
        echo "# (keeps only tests that passed in all of TORTURE_REPEAT=$REPEAT runs)."
        echo "# Last update: $(date -u +%Y-%m-%d) with $(smbtorture --version 2>/dev/null | head -1)."
        # keep entries of tests that were not part of this run
        list "$EXPECTED" 2>/dev/null | while read -r t; do [[ -z ${SEEN[$t]:-} ]] && echo "$t"; done
        printf '%s\n' "${reliable[@]}"
    } | awk '!/^#/ && seen[$0]++ {next} {print}' >"$tmp"
    { grep '^#' "$tmp"; grep -v '^#' "$tmp" | sort; } >"$EXPECTED"
    rm -f "$tmp"
    echo "# wrote $EXPECTED: $(list "$EXPECTED" | wc -l) tests (${#reliable[@]} from this run)"
    for t in "${flaky[@]}"; do echo "FLAKY $t (passed ${PASSCOUNT[$t]} of $REPEAT runs; not listed)"; done
    echo "interop torture: $n_pass passed, $n_notpass not passing, ${#flaky[@]} flaky, $n_excl excluded (expected list updated)"
    exit 0
fi

n_reg=0 n_new=0
if [[ $COMPARE == 1 ]]; then
    declare -A EXP=()
    while read -r t; do EXP[$t]=1; done < <(list "$EXPECTED")
    for t in "${ORDER[@]}"; do
        r=${RESULT[$t]}
        if [[ -n ${EXP[$t]:-} && $r != success ]]; then
            reason=$(awk -F'\t' -v t="$t" '$2 == t {r = $5} END {print r}' "$TSV")
            echo "REGRESSION $t: $r${reason:+ [$reason]}"
            n_reg=$((n_reg + 1))
        elif [[ -z ${EXP[$t]:-} && $r == success ]]; then
            echo "NEW PASS $t (not in $(basename "$EXPECTED"); refresh with --update-expected)"
            n_new=$((n_new + 1))
        fi
    done
    # expected tests that no longer exist in the suites that were run
    for t in "${!EXP[@]}"; do
        [[ -n ${SEEN[$t]:-} ]] && continue
        for arg in "${ARGS[@]}"; do
            if [[ $t == "$arg" || $t == "$arg".* ]]; then
                echo "MISSING $t: listed as expected but not in this smbtorture's $arg"
                n_reg=$((n_reg + 1))
                break
            fi
        done
    done
fi

echo "# results: $TSV"
echo "interop torture: $n_pass passed, $n_reg failed (regressions), $n_new newly passing, $((n_notpass)) not passing, $n_excl excluded"
[[ $n_reg -eq 0 && $n_missing_args -eq 0 ]]
