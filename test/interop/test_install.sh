#!/usr/bin/env bash
# make install into a scratch prefix (and a DESTDIR staging), then build an
# example against the *installed* copy with pkg-config and run it.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
SAN=""; [ "${SANITIZE:-0}" = 1 ] && SAN="-fsanitize=address,undefined"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"
make -s install BUILD="$BUILD" SANITIZE="${SANITIZE:-0}" PREFIX="$prefix" >/dev/null
for f in include/strapto/strapto.h include/strapto/peer.h lib/libstrapto.so lib/libstrapto.so.0 lib/libstrapto.a \
         lib/pkgconfig/strapto.pc bin/strapto-cli; do
    [ -e "$prefix/$f" ] || { echo "missing after install: $f"; exit 1; }
done
soname=$(objdump -p "$prefix/lib/libstrapto.so" | awk '/SONAME/ {print $2}')
[ "$soname" = libstrapto.so.0 ] || { echo "SONAME is '$soname', want libstrapto.so.0"; exit 1; }
ls "$prefix"/share/man/man1/strapto-cli.1 >/dev/null 2>&1 || echo "note: no man pages installed yet"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cflags=$(pkg-config --cflags strapto); libs=$(pkg-config --libs strapto)
echo "pkg-config: $cflags $libs"
cc -std=c11 -Wall -Wextra -Wno-unused-parameter -Werror $SAN -o "$tmp/dc_echo" examples/c/dc_echo.c $cflags $libs -Wl,-rpath,"$prefix/lib"
ldd "$tmp/dc_echo" | grep -q "$prefix/lib/libstrapto.so.0" || { echo "example is not linked to the installed library"; ldd "$tmp/dc_echo"; exit 1; }
out=$("$tmp/dc_echo")
[ "$out" = "echoed: hello" ] || { echo "example printed '$out'"; exit 1; }
# static linking: the .pc's private requirements bring every dependency
static_libs=$(pkg-config --static --libs strapto | sed 's/-lstrapto/-l:libstrapto.a/')
cc -std=c11 $SAN -o "$tmp/dc_echo_static" examples/c/dc_echo.c $cflags $static_libs
[ "$("$tmp/dc_echo_static")" = "echoed: hello" ] || { echo "static example failed"; exit 1; }
# DESTDIR staging keeps PREFIX paths inside the stage
make -s install BUILD="$BUILD" SANITIZE="${SANITIZE:-0}" PREFIX=/usr/local DESTDIR="$tmp/stage" >/dev/null
[ -e "$tmp/stage/usr/local/lib/libstrapto.so.0" ] && grep -q "^prefix=/usr/local" "$tmp/stage/usr/local/lib/pkgconfig/strapto.pc" \
    || { echo "DESTDIR install is wrong"; exit 1; }
echo "install test passed"
