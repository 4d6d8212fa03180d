#!/usr/bin/env bash
# Test entry point of the Java binding: builds the JNI crate and the jar, runs the JUnit suite,
# installs io.iris:iris into the local Maven repository, then runs the separate Maven project in
# tests/cross/java (quickstart + Java <-> Rust cross-language tests) against the installed artifact.
# Assumes `cargo build --workspace` already ran (target/debug/iris and target/debug/iris-peer).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

for tool in java mvn cargo; do
    command -v "$tool" >/dev/null || { echo "run-tests.sh: $tool is required" >&2; exit 1; }
done
for bin in "${IRIS_BIN:-$repo/target/debug/iris}" "$repo/target/debug/iris-peer"; do
    [ -x "$bin" ] || { echo "run-tests.sh: missing $bin; run cargo build --workspace first" >&2; exit 1; }
done

mvn_flags=(-B --no-transfer-progress)
mvn "${mvn_flags[@]}" -f "$here/pom.xml" install
mvn "${mvn_flags[@]}" -f "$repo/tests/cross/java/pom.xml" test
