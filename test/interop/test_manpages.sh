#!/usr/bin/env bash
# The man pages stay in step with the library and the CLI:
#  1. every function exported by $BUILD/libstrapto.so (nm -D, type T) is
#     named in the NAME (.Nm) or SYNOPSIS (.Fn/.Fo) section of a man/*.3 page;
#  2. `mandoc -T lint -W warning` says nothing about any page in man/;
#  3. every long option of the option table of every cli/cmd_*.c command
#     appears in man/strapto-cli.1 (as --NAME in the rendered page), except
#     for hidden commands (those listed with a NULL summary in cli/main.c,
#     such as demo-model) and commands without a `struct option` table.
# Run from the repository root with BUILD set to the build directory.
# Exits 0 when all hold, 1 otherwise, saying what failed.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
LIB="$BUILD/libstrapto.so"
fail=0

bad() {
    echo "FAIL: $*"
    fail=1
}

shopt -s nullglob
pages=(man/*.[1-9])
lib_pages=(man/*.3)
if [ ${#pages[@]} -eq 0 ]; then
    echo "FAIL: no man pages in man/"
    exit 1
fi

# ---- 1. exported symbols are documented ----
# Names in NAME (.Nm) and SYNOPSIS (.Fn, .Fo) of the library pages.
documented() {
    awk '
        /^\.Sh[ \t]/ { sec = $0; sub(/^\.Sh[ \t]+/, "", sec); gsub(/"/, "", sec); next }
        (sec == "NAME" && $1 == ".Nm") || (sec == "SYNOPSIS" && ($1 == ".Fn" || $1 == ".Fo")) {
            n = $2; gsub(/[",]/, "", n); if (n != "") print n
        }' "${lib_pages[@]}" | sort -u
}

if ! command -v nm >/dev/null 2>&1; then
    bad "nm (binutils) is not installed"
elif [ ! -e "$LIB" ]; then
    bad "$LIB not found (build the library first: make)"
elif [ ${#lib_pages[@]} -eq 0 ]; then
    bad "no section 3 pages in man/"
else
    exported=$(nm -D --defined-only "$LIB" | awk '$2 == "T" { print $3 }' | sort -u)
    if [ -z "$exported" ]; then
        bad "no exported function found in $LIB"
    else
        docs=$(documented)
        missing=$(comm -23 <(echo "$exported") <(echo "$docs"))
        n_exp=$(echo "$exported" | wc -l)
        if [ -n "$missing" ]; then
            bad "exported by $LIB but in no NAME or SYNOPSIS of man/*.3:"
            echo "$missing" | sed 's/^/    /'
        else
            echo "ok: all $n_exp exported functions are documented in man/*.3"
        fi
        # The other way round is only worth a note: a page may document a
        # macro-like name, or a function of a library part not built here.
        stale=$(comm -13 <(echo "$exported") <(echo "$docs") | grep '^strapto_' || true)
        if [ -n "$stale" ]; then
            echo "note: named in man/*.3 but not exported by $LIB:"
            echo "$stale" | sed 's/^/    /'
        fi
    fi
fi

# ---- 2. mandoc lint ----
if ! command -v mandoc >/dev/null 2>&1; then
    bad "mandoc is not installed (apt-get install mandoc)"
else
    lint_ok=1
    for p in "${pages[@]}"; do
        out=$(mandoc -T lint -W warning "$p" 2>&1)
        if [ -n "$out" ]; then
            bad "mandoc -T lint -W warning $p:"
            echo "$out" | sed 's/^/    /'
            lint_ok=0
        fi
    done
    [ $lint_ok = 1 ] && echo "ok: mandoc -T lint -W warning is silent on ${#pages[@]} pages"
fi

# ---- 3. CLI options are in strapto-cli(1) ----
CLI_PAGE=man/strapto-cli.1
CLI_MAIN=cli/main.c

# the entries {"name", ...} of a `struct option NAME[] = {...}` table (any
# number of entries per line)
long_opts_of() {
    awk '
        /struct option[ \t]+[A-Za-z_0-9]+\[\][ \t]*=/ { t = 1; sub(/.*=/, "") }
        t {
            line = $0
            while (match(line, /\{[ \t]*"[^"]+"/)) {
                s = substr(line, RSTART, RLENGTH); line = substr(line, RSTART + RLENGTH)
                sub(/^\{[ \t]*"/, "", s); sub(/"$/, "", s); print s
            }
        }
        t && /\};/ { t = 0 }
    ' "$1"
}

# functions of hidden commands: {"name", NULL, cmd_fn} in cli/main.c
hidden_fns() {
    [ -f "$CLI_MAIN" ] || return 0
    sed -n 's/.*{[ \t]*"[^"]*"[ \t]*,[ \t]*NULL[ \t]*,[ \t]*\([A-Za-z_0-9]*\)[ \t]*}.*/\1/p' "$CLI_MAIN"
}

cli_srcs=(cli/cmd_*.c)
if [ ! -f "$CLI_PAGE" ]; then
    bad "$CLI_PAGE is missing"
elif [ ${#cli_srcs[@]} -eq 0 ]; then
    bad "no cli/cmd_*.c command found"
elif ! command -v mandoc >/dev/null 2>&1; then
    bad "mandoc is needed to render $CLI_PAGE"
else
    # rendered text, without the overstrike of bold and underline
    text=$(mandoc -T ascii "$CLI_PAGE" 2>/dev/null | sed 's/.\x08//g')
    hidden=" $(hidden_fns | tr '\n' ' ') "
    n_cmds=0
    n_opts=0
    opts_ok=1
    for src in "${cli_srcs[@]}"; do
        fn=$(basename "$src" .c)
        if [[ "$hidden" == *" $fn "* ]]; then
            echo "note: $src skipped (hidden command)"
            continue
        fi
        opts=$(long_opts_of "$src")
        if [ -z "$opts" ]; then
            echo "note: $src skipped (no long option table)"
            continue
        fi
        n_cmds=$((n_cmds + 1))
        missing_opts=""
        for o in $opts; do
            n_opts=$((n_opts + 1))
            if ! grep -qE -- "--${o}([^a-z0-9-]|\$)" <<<"$text"; then
                missing_opts+=" --$o"
            fi
        done
        if [ -n "$missing_opts" ]; then
            bad "options of $src not in $CLI_PAGE:$missing_opts"
            opts_ok=0
        fi
    done
    if [ $n_cmds -eq 0 ]; then
        bad "no long option table found in cli/cmd_*.c"
    elif [ $opts_ok = 1 ]; then
        echo "ok: all $n_opts long options of $n_cmds commands (cli/cmd_*.c) are in $CLI_PAGE"
    fi
fi

if [ $fail -ne 0 ]; then
    echo "test_manpages: FAILED"
    exit 1
fi
echo "test_manpages: passed"
exit 0
