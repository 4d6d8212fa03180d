#!/usr/bin/env bash
# Test entry point of the C binding: builds libiris (debug, reusing `cargo build --workspace`),
# runs `make check` (Rust unit tests incl. header drift, the C suite natively and under valgrind,
# the pkg-config example) and the cross-language tests in tests/cross/c. Exits non-zero on any
# failure. Installs valgrind / pkg-config with apt-get if they are missing.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
export IRIS_BIN=${IRIS_BIN:-$REPO/target/debug/iris}
export IRIS_PEER=${IRIS_PEER:-$REPO/target/debug/iris-peer}

missing=()
command -v valgrind >/dev/null || missing+=(valgrind)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v make >/dev/null || missing+=(make)
command -v cc >/dev/null || missing+=(gcc)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

for bin in "$IRIS_BIN" "$IRIS_PEER"; do
    if [ ! -x "$bin" ]; then
        echo "$bin is missing: run cargo build --workspace first" >&2
        exit 1
    fi
done

status=0
make -C "$HERE" --no-print-directory check PROFILE=debug || status=1
IRIS_LIB_DIR=$REPO/target/debug "$REPO/tests/cross/c/run.sh" || status=1
if [ "$status" -eq 0 ]; then
    echo "C binding: all tests passed"
else
    echo "C binding: some tests FAILED"
fi
exit "$status"
