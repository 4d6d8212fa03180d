#!/usr/bin/env bash
# Cross-language tests of the C binding against the Rust peer (iris-peer): a C service answering a
# Rust client, a Rust service answering a C client, and a tunnel each way, through one real node.
# Environment: IRIS_BIN, IRIS_PEER, IRIS_LIB_DIR (where libiris.so is), CC.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
export IRIS_BIN=${IRIS_BIN:-$REPO/target/debug/iris}
IRIS_PEER=${IRIS_PEER:-$REPO/target/debug/iris-peer}
LIB_DIR=${IRIS_LIB_DIR:-$REPO/target/debug}
CC=${CC:-cc}
BUILD=$(mktemp -d "${TMPDIR:-/tmp}/iris-cross-c.XXXXXX")
source "$REPO/bindings/c/tests/node.sh"

$CC -std=c11 -Wall -I"$REPO/bindings/c/include" "$HERE/peer.c" -L"$LIB_DIR" -liris -o "$BUILD/c-peer"
export LD_LIBRARY_PATH=$LIB_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

serve_pids=()
cleanup() {
    for fd in "${serve_fds[@]:-}"; do [ -n "$fd" ] && eval "exec $fd>&-" || true; done
    for pid in "${serve_pids[@]:-}"; do [ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }; done
    stop_node
    rm -rf "$BUILD"
}
serve_fds=()
trap cleanup EXIT

start_node

# Starts a serving peer whose stdin is a FIFO we hold open; waits for its "ready".
serve() {
    local name=$1
    shift
    mkfifo "$BUILD/$name.in"
    "$@" <"$BUILD/$name.in" >"$BUILD/$name.out" 2>"$BUILD/$name.err" &
    serve_pids+=($!)
    exec {fd}>"$BUILD/$name.in"
    serve_fds+=("$fd")
    for _ in $(seq 1 100); do
        grep -q '^ready$' "$BUILD/$name.out" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "$name did not become ready:" >&2
    cat "$BUILD/$name.err" >&2
    return 1
}

passed=0
failed=0
expect() {
    local name=$1 want=$2
    shift 2
    local got
    got=$("$@" 2>&1) || true
    if [ "$got" = "$want" ]; then
        echo "ok   $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name: expected '$want', got '$got'"
        failed=$((failed + 1))
    fi
}

serve c-service "$BUILD/c-peer" serve "$NODE_PORT" cross-c "c:"
serve rust-service "$IRIS_PEER" serve "$NODE_PORT" cross-rust "rust:"

expect "rust client -> c service: request" "c:hello" "$IRIS_PEER" request "$NODE_PORT" cross-c hello
expect "rust client -> c service: fault" "REMOTE: c peer refuses" "$IRIS_PEER" request "$NODE_PORT" cross-c fail
expect "rust client -> c service: tunnel" "c:through" "$IRIS_PEER" tunnel "$NODE_PORT" cross-c through
expect "c client -> rust service: request" "rust:hello" "$BUILD/c-peer" request "$NODE_PORT" cross-rust hello
expect "c client -> rust service: fault" "REMOTE: rust peer refuses" "$BUILD/c-peer" request "$NODE_PORT" cross-rust fail
expect "c client -> rust service: tunnel" "rust:through" "$BUILD/c-peer" tunnel "$NODE_PORT" cross-rust through
expect "c client -> nobody: timeout" "TIMEOUT" bash -c "'$BUILD/c-peer' request $NODE_PORT cross-nobody x 2>&1 | cut -d: -f1"

echo "cross c: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
