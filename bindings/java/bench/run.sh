#!/usr/bin/env bash
# Benchmark of the Java binding against a node it starts itself: request latency (1 in flight),
# request throughput (128 in flight) and publish events/s to one subscriber, 1-byte messages.
# Uses optimized builds: cargo --release for the node and the JNI library.
#   bindings/java/bench/run.sh [seconds-per-measurement]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
seconds="${1:-5}"

cargo build --release -p iris-node -p iris-jni --manifest-path "$repo/Cargo.toml"
mvn -B -q --no-transfer-progress -f "$here/../pom.xml" compile

out="$(mktemp)"
"${IRIS_BIN:-$repo/target/release/iris}" --dev --port 0 >"$out" 2>/dev/null &
node=$!
trap 'kill $node 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 100); do
    grep -q "listening on port" "$out" && break
    sleep 0.1
done
port="$(sed -n 's/^iris relay listening on port //p' "$out")"

echo "nproc $(nproc); $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'); $(date -u +%Y-%m-%dT%H:%MZ); $(java -version 2>&1 | head -1)"
java -Diris.native.path="$repo/target/release/libiris_jni.so" -cp "$here/../target/classes" \
    "$here/Bench.java" "$port" "$seconds"
