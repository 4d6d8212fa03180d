#!/usr/bin/env bash
# Builds the Python binding the way a user installs it (`pip install ./bindings/python`) into a
# virtualenv of its own and runs its pytest suite plus the Python cross-language tests.
# Assumes `cargo build --workspace` already ran (target/debug/iris and target/debug/iris-peer).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VENV="${IRIS_PY_VENV:-$HERE/.venv}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "maturin>=1.5,<2" "pytest>=7"

# A stale in-tree build from `maturin develop` must not shadow (or be packed into) the wheel.
rm -f "$HERE"/python/iris/_native*.so
"$VENV/bin/python" -m pip install --quiet --force-reinstall --no-deps "$HERE"

for bin in iris iris-peer; do
    if [ ! -x "$REPO/target/debug/$bin" ]; then
        echo "run-tests.sh: $REPO/target/debug/$bin is missing; run 'cargo build --workspace' first" >&2
        exit 1
    fi
done

cd "$REPO"
exec "$VENV/bin/python" -m pytest --import-mode=importlib -p no:cacheprovider \
    "$HERE/tests" "$REPO/tests/cross/python" "$@"
