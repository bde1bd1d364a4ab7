#!/usr/bin/env bash
# Every C example under examples/c is built by `make tests-build` (into
# $BUILD/examples); run each and check what it prints, so none of them rots.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
fail=0
check() { # name expected-regex command...
    local name=$1 re=$2; shift 2
    local out
    out=$(timeout 30 "$@" 2>&1); local rc=$?
    if [ $rc -ne 0 ] || ! grep -Eq "$re" <<<"$out"; then
        echo "FAIL $name (exit $rc):"; echo "$out" | tail -20; fail=1
    else
        echo "ok $name"
    fi
}
check dc_echo '^echoed: hello$' "$BUILD/examples/dc_echo"
# the model's two lines must have become model_output events by the time /status is read
check model_streamer '"model_output":[2-9]' "$BUILD/examples/model_streamer" 2 -- /bin/sh -c 'echo one; echo two; sleep 5'
n=$(ls examples/c/*.c | wc -l)
[ "$n" -eq 2 ] || { echo "FAIL: $n C examples but this test runs 2: add the new one here"; fail=1; }
exit $fail
