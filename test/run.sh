#!/usr/bin/env bash
# Runs every suite: C unit tests, interop tests against independent peers,
# example runs. Ends with one line "N passed, N failed"; exits non-zero on
# any failure. The whole run happens inside a network namespace created here
# (lo up, plus a veth pair whose end "stv0" holds 127.1.0.1 for peers that
# skip loopback-flagged interfaces), so no traffic leaves the namespace.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
export BUILD=${BUILD:-build}
export SANITIZE=${SANITIZE:-0}

if [ -z "${STRAPTO_IN_NETNS:-}" ]; then
    NS="strapto-test-$$"
    if ip netns add "$NS" 2>/dev/null; then
        trap 'ip netns del "$NS" 2>/dev/null' EXIT
        ip netns exec "$NS" ip link set lo up
        ip netns exec "$NS" ip link add stv0 type veth peer name stv1
        ip netns exec "$NS" ip addr add 127.1.0.1/32 dev stv0
        ip netns exec "$NS" ip addr add 127.1.0.2/32 dev stv1
        ip netns exec "$NS" ip link set stv0 up
        ip netns exec "$NS" ip link set stv1 up
        ip netns exec "$NS" env STRAPTO_IN_NETNS="$NS" "$0" "$@"
        exit $?
    fi
    echo "run.sh: cannot create a network namespace (need root + iproute2); running on loopback" >&2
    export STRAPTO_IN_NETNS=none
fi

export STRAPTO_ICE_ADDRESSES=${STRAPTO_ICE_ADDRESSES:-127.0.0.1}
export STRAPTO_VETH_ADDR=127.1.0.1
export STRAPTO_CLI="$ROOT/$BUILD/strapto-cli"
export STRAPTO_LIB_DIR="$ROOT/$BUILD"
export PYTHON=/usr/bin/python3
export PYTHONPATH="$ROOT/test/interop${PYTHONPATH:+:$PYTHONPATH}"
if [ "$SANITIZE" = 1 ]; then
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:exitcode=86"
    export LSAN_OPTIONS="suppressions=$ROOT/test/lsan.supp:print_suppressions=0"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
fi
OUT="$ROOT/test/out"
rm -rf "$OUT"; mkdir -p "$OUT/unit" "$OUT/interop"
ONLY=${TEST_ONLY:-}

pass=0; fail=0; failed=()
run_one() { # name timeout cmd...
    local name=$1 to=$2; shift 2
    if [ -n "$ONLY" ] && [[ "$name" != *$ONLY* ]]; then return; fi
    local t0=$(date +%s%N)
    timeout -k 5 "$to" "$@" >"$OUT/$name.log" 2>&1
    local rc=$?
    local ms=$(( ($(date +%s%N) - t0) / 1000000 )); local dt="$((ms/1000)).$(( (ms%1000)/100 ))"
    if [ $rc -eq 0 ]; then
        pass=$((pass+1)); echo "PASS $name (${dt}s)"
    else
        fail=$((fail+1)); failed+=("$name"); echo "FAIL $name (exit $rc, ${dt}s) log: test/out/$name.log"
    fi
}

# C unit tests
for t in "$BUILD"/test/test_*; do
    [ -x "$t" ] || continue
    run_one "unit/$(basename "$t")" 300 "$t"
done
# interop and end-to-end tests (python, shell, node)
for t in test/interop/test_*; do
    [ -f "$t" ] || continue
    n=$(basename "$t"); n=${n%.*}
    case "$t" in
        *.py) run_one "interop/$n" 600 "$PYTHON" "$t" ;;
        *.sh) run_one "interop/$n" 600 bash "$t" ;;
        *.mjs|*.js) run_one "interop/$n" 600 node "$t" ;;
    esac
done

for n in "${failed[@]:-}"; do
    [ -n "$n" ] || continue
    echo "---- last lines of test/out/$n.log"
    tail -n 30 "$OUT/$n.log"
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
