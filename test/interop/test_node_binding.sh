#!/usr/bin/env bash
# The Node binding as a user gets it: `npm install` of bindings/node into a
# clean directory (koffi comes from the npm registry, or from npm's cache
# when the registry is unreachable, e.g. inside run.sh's network namespace),
# then `node --test` on the package's tests against $BUILD's library and
# strapto-cli (the C peer).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
export STRAPTO_LIBRARY="$BUILD/libstrapto.so.0"
export STRAPTO_CLI=${STRAPTO_CLI:-$BUILD/strapto-cli}
export STRAPTO_ICE_ADDRESSES=${STRAPTO_ICE_ADDRESSES:-127.0.0.1}
[ -e "$STRAPTO_LIBRARY" ] || { echo "no library at $STRAPTO_LIBRARY (run make)"; exit 1; }
[ -x "$STRAPTO_CLI" ] || { echo "no strapto-cli at $STRAPTO_CLI (run make)"; exit 1; }
command -v node >/dev/null && command -v npm >/dev/null || { echo "node and npm are needed"; exit 1; }
if [ "${SANITIZE:-0}" = 1 ]; then
    # node is not built with ASan: preload the runtime for the instrumented library
    asan=$(cc -print-file-name=libasan.so); ubsan=$(cc -print-file-name=libubsan.so)
    export LD_PRELOAD="$asan $ubsan"
    export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm init -y >/dev/null 2>&1
# --install-links: copy the package like a published tarball (no symlink
# into the source tree, its dependencies installed here). --prefer-offline:
# the registry is asked only for what npm's cache lacks (koffi is pinned).
install() { npm install --no-audit --no-fund --install-links "$@" "$ROOT/bindings/node"; }
if ! timeout 300 bash -c "$(declare -f install); ROOT='$ROOT'; install --prefer-offline --fetch-retries=1 --fetch-timeout=30000" >npm.log 2>&1; then
    echo "npm install from the registry failed; trying npm's cache (--offline)"
    if ! install --offline >>npm.log 2>&1; then
        cat npm.log
        echo "npm install failed (registry unreachable and koffi not in npm's cache?)"
        exit 1
    fi
fi
pkg="$tmp/node_modules/strapto"
[ -f "$pkg/index.js" ] && [ -f "$pkg/index.d.ts" ] && [ ! -L "$pkg" ] || { echo "package not installed as a copy"; ls -la node_modules; exit 1; }
node -e "const s = require('strapto'); console.log('strapto', s.version(), 'via koffi', require('koffi').version)"
cd "$pkg"
node --test --test-reporter=spec test/*.test.js
