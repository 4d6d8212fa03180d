#!/usr/bin/env bash
# Every test of the C binding: Rust unit tests (header drift, error mapping), the exported-symbol
# check, the C suite (natively and under valgrind), the example built against an installed copy
# via pkg-config (shared and static), and the README quickstart check.
# Environment: PROFILE (debug|release), TARGET_DIR, VALGRIND (1|0), CARGO, IRIS_BIN.
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PROFILE=${PROFILE:-debug}
TARGET_DIR=${TARGET_DIR:-$REPO/target}
VALGRIND=${VALGRIND:-1}
CARGO=${CARGO:-cargo}
export IRIS_BIN=${IRIS_BIN:-$REPO/target/debug/iris}
OUT=$TARGET_DIR/$PROFILE
BUILD=$HERE/build
CC=${CC:-cc}
mkdir -p "$BUILD"
source "$HERE/tests/node.sh"
trap stop_node EXIT

passed=0
failed=0
step() {
    local name=$1
    shift
    echo "=== $name"
    if "$@"; then
        echo "--- ok   $name"
        passed=$((passed + 1))
    else
        echo "--- FAIL $name"
        failed=$((failed + 1))
    fi
}

cargo_flags=()
[ "$PROFILE" = release ] && cargo_flags=(--release)

rust_unit_tests() {
    (cd "$REPO" && "$CARGO" test -q -p iris-c "${cargo_flags[@]}")
}

exported_symbols() {
    local bad
    bad=$(nm -D --defined-only "$OUT/libiris.so" | awk '{print $3}' | grep -v '^iris_' || true)
    if [ -n "$bad" ]; then
        echo "symbols without the iris_ prefix:" $bad
        return 1
    fi
    echo "$(nm -D --defined-only "$OUT/libiris.so" | wc -l) exported symbols, all iris_*"
}

header_compiles() {
    # The header alone, as strict C99 and as C++.
    echo '#include <iris.h>' | $CC -std=c99 -pedantic -Wall -Wextra -Werror -I"$HERE/include" -x c -fsyntax-only -
    if command -v c++ >/dev/null; then
        echo '#include <iris.h>' | c++ -std=c++11 -Wall -Wextra -Werror -I"$HERE/include" -x c++ -fsyntax-only -
    fi
}

build_suite() {
    $CC -std=c11 -Wall -Wextra -O1 -g -I"$HERE/include" \
        "$HERE/tests/test_iris.c" "$HERE/tests/harness.c" -L"$OUT" -liris -lpthread -o "$BUILD/test_iris"
}

c_suite() {
    LD_LIBRARY_PATH=$OUT "$BUILD/test_iris"
}

c_suite_valgrind() {
    LD_LIBRARY_PATH=$OUT valgrind -q --error-exitcode=1 --leak-check=full --num-callers=50 \
        --suppressions="$HERE/tests/valgrind.supp" "$BUILD/test_iris"
}

example_installed() {
    local prefix=$BUILD/prefix
    rm -rf "$prefix"
    make -s -C "$HERE" install PREFIX="$prefix" PROFILE="$PROFILE" TARGET_DIR="$TARGET_DIR" CARGO="$CARGO" >/dev/null
    export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
    # shellcheck disable=SC2046
    $CC "$HERE/examples/echo.c" $(pkg-config --cflags --libs iris) -o "$BUILD/echo"
    # shellcheck disable=SC2046
    $CC "$HERE/examples/echo.c" $(pkg-config --cflags --libs --static iris | sed "s|-liris|$prefix/lib/libiris.a|") \
        -o "$BUILD/echo-static"
    start_node
    local shared static
    shared=$(LD_LIBRARY_PATH=$prefix/lib "$BUILD/echo" "$NODE_PORT")
    static=$("$BUILD/echo-static" "$NODE_PORT")
    # Silent by default; IRIS_LOG turns on libiris's logs on stderr.
    local quiet logged
    quiet=$("$BUILD/echo-static" "$NODE_PORT" 2>&1 >/dev/null)
    logged=$(IRIS_LOG=debug "$BUILD/echo-static" "$NODE_PORT" 2>&1 >/dev/null)
    stop_node
    echo "shared: $shared, static: $static"
    [ "$shared" = hello ] && [ "$static" = hello ] && [ -z "$quiet" ] && grep -q "DEBUG.*connected" <<<"$logged"
}

readme_quickstart() {
    # The README's quickstart block must be examples/echo.c verbatim.
    python3 - "$HERE/README.md" "$HERE/examples/echo.c" <<'PY'
import sys
readme, example = (open(p).read() for p in sys.argv[1:3])
start = readme.index("<!-- quickstart:begin -->")
block = readme[start:readme.index("<!-- quickstart:end -->")]
code = block.split("```c\n", 1)[1].rsplit("```", 1)[0]
sys.exit(0 if code == example else "README quickstart differs from examples/echo.c")
PY
}

step "rust unit tests (header drift, error mapping)" rust_unit_tests
step "exported symbols" exported_symbols
step "header compiles as C99 and C++" header_compiles
step "build C suite" build_suite
step "C suite" c_suite
if [ "$VALGRIND" = 1 ]; then
    if ! command -v valgrind >/dev/null; then
        echo "valgrind is not installed" >&2
        failed=$((failed + 1))
    else
        step "C suite under valgrind" c_suite_valgrind
    fi
fi
step "example against an installed copy (pkg-config)" example_installed
step "README quickstart is examples/echo.c" readme_quickstart

echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
