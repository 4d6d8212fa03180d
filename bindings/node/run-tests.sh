#!/usr/bin/env bash
# Builds the Node.js binding and runs its whole suite: the node --test files in test/ and the
# cross-language tests in tests/cross/node/, each against an iris node it starts itself.
# Expects `cargo build --workspace` to have run (target/debug/iris and iris-peer); builds them if not.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$here"

command -v node >/dev/null || { echo "run-tests.sh: node is required" >&2; exit 1; }

# Where cargo puts binaries (honours CARGO_TARGET_DIR).
target="$(cd "$repo" && cargo metadata --format-version 1 --no-deps \
  | node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0, "utf8")).target_directory)')"
if [[ ! -x "$target/debug/iris" || ! -x "$target/debug/iris-peer" ]]; then
  (cd "$repo" && cargo build -p iris-node -p iris-tests)
fi

# Dev dependencies (typescript for the typings check); skip the install script, built below.
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
node scripts/build.js --debug

export IRIS_BIN="${IRIS_BIN:-$target/debug/iris}"
node --test --test-concurrency=1 test/*.test.js "$repo"/tests/cross/node/*.test.js
