#!/usr/bin/env bash
# The Python binding: pip-install ./bindings/python offline into a scratch
# venv (--system-site-packages, so Debian's aiortc, websockets and pytest are
# visible) and run its pytest suite against $BUILD/libstrapto.so.0.
# The package is installed from a copy of the source so the build leaves
# nothing in the tree. Exit code: pytest's.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${BUILD:-build}
PY=/usr/bin/python3
export STRAPTO_ICE_ADDRESSES=${STRAPTO_ICE_ADDRESSES:-127.0.0.1}
LIB="$ROOT/$BUILD/libstrapto.so.0"
[ -e "$LIB" ] || { echo "no $LIB: build first (make)"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" -m venv --system-site-packages "$tmp/venv"
mkdir -p "$tmp/src/bindings"
cp -r bindings/python "$tmp/src/bindings/python"
find "$tmp/src" \( -name __pycache__ -o -name '*.egg-info' -o -name build -o -name .pytest_cache \) -prune \
    -exec rm -rf {} + 2>/dev/null || true
(cd "$tmp/src" && "$tmp/venv/bin/python" -m pip install -q --no-build-isolation --no-index ./bindings/python)

export STRAPTO_LIBRARY="$LIB"
# a sanitizer build must have its runtime loaded before python
# (no `grep -q` on a pipe under pipefail: ldd could die of SIGPIPE)
deps=$(ldd "$LIB")
if [[ "$deps" == *libasan* ]]; then
    pre=$(cc -print-file-name=libasan.so)
    [[ "$deps" == *libubsan* ]] && pre="$pre:$(cc -print-file-name=libubsan.so)"
    export LD_PRELOAD="$pre${LD_PRELOAD:+:$LD_PRELOAD}"
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fi
export PYTHONDONTWRITEBYTECODE=1
cd "$tmp"  # so `import strapto` can only be the installed package
where=$("$tmp/venv/bin/python" -c 'import strapto; print(strapto.__file__)')
echo "strapto imported from $where (library $STRAPTO_LIBRARY)"
case "$where" in "$tmp/venv/"*) ;; *) echo "strapto was not imported from the venv"; exit 1 ;; esac
set +e
"$tmp/venv/bin/python" -m pytest -v -p no:cacheprovider --rootdir "$ROOT/bindings/python" \
    -c "$ROOT/bindings/python/pyproject.toml" "$ROOT/bindings/python/tests"
rc=$?
exit $rc
