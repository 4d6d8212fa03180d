#!/usr/bin/env bash
# Builds libiris (release) and the benchmark, starts a node, runs bench.c against it.
# Environment: PROFILE (release|debug, default release), IRIS_BIN (default: the release node if
# built, else the debug one).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
PROFILE=${PROFILE:-release}
if [ -z "${IRIS_BIN:-}" ]; then
    IRIS_BIN=$REPO/target/release/iris
    [ -x "$IRIS_BIN" ] || IRIS_BIN=$REPO/target/debug/iris
fi
export IRIS_BIN
make -s -C "$HERE/.." lib PROFILE="$PROFILE" >/dev/null
LIB=$REPO/target/$PROFILE
mkdir -p "$HERE/../build"
cc -O2 -std=c11 -I"$HERE/../include" "$HERE/bench.c" -L"$LIB" -liris -lpthread -o "$HERE/../build/bench"
source "$HERE/../tests/node.sh"
trap stop_node EXIT
start_node
echo "libiris $PROFILE, node $IRIS_BIN, $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(date -u +%Y-%m-%d)"
LD_LIBRARY_PATH=$LIB "$HERE/../build/bench" "$NODE_PORT"
