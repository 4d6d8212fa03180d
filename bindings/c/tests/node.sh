# Sourced by the test scripts: start_node / stop_node for a throw-away iris node on a free port.
# start_node sets NODE_PID and NODE_PORT; IRIS_BIN overrides the node binary.

start_node() {
    local out
    out=$(mktemp "${TMPDIR:-/tmp}/iris-node.XXXXXX")
    "${IRIS_BIN}" --dev --port 0 >"$out" 2>/dev/null &
    NODE_PID=$!
    NODE_PORT=""
    for _ in $(seq 1 150); do
        NODE_PORT=$(sed -n 's/^iris relay listening on port \([0-9][0-9]*\)$/\1/p' "$out")
        [ -n "$NODE_PORT" ] && break
        sleep 0.1
    done
    rm -f "$out"
    if [ -z "$NODE_PORT" ]; then
        echo "the iris node ($IRIS_BIN) did not start" >&2
        kill "$NODE_PID" 2>/dev/null || true
        return 1
    fi
}

stop_node() {
    if [ -n "${NODE_PID:-}" ]; then
        kill "$NODE_PID" 2>/dev/null || true
        wait "$NODE_PID" 2>/dev/null || true
        NODE_PID=""
    fi
}
