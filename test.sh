#!/usr/bin/env bash
# Runs every test of the project: all Rust crates, then every language binding.
# Each step installs what it needs; a fresh machine needs only the toolchains.
set -euo pipefail
cd "$(dirname "$0")"

# Network safety: every iris node started by any test refuses an overlay that could send a
# packet beyond loopback (see `iris --help`), whatever flags the test passed.
export IRIS_LOOPBACK_ONLY=1

echo "==> cargo fmt --check (rustfmt.toml)"
cargo fmt --all -- --check

echo "==> cargo build --workspace"
cargo build --workspace --all-targets

echo "==> cargo test --workspace"
cargo test --workspace

for lang in python node java c; do
  script="bindings/$lang/run-tests.sh"
  echo "==> $script"
  bash "$script"
done
echo "==> all tests passed"
