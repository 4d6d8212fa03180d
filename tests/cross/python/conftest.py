"""Fixtures of the Python cross-language tests: a node on a free port and the Rust test peer."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[3]
TARGET = REPO / "target" / "debug"


def binary(env: str, name: str) -> str:
    path = os.environ.get(env, str(TARGET / name))
    if not os.path.exists(path):
        pytest.fail(f"{name} not found at {path}; run `cargo build --workspace` first")
    return path


@pytest.fixture(scope="session")
def cross_port() -> Iterator[int]:
    proc = subprocess.Popen(
        [binary("IRIS_BIN", "iris"), "--dev", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.fullmatch(r"iris relay listening on port (\d+)\n", line)
    try:
        assert match, f"unexpected first line from the node: {line!r}"
        yield int(match.group(1))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def peer() -> str:
    return binary("IRIS_PEER_BIN", "iris-peer")


@pytest.fixture
def cluster() -> str:
    return "x-" + uuid.uuid4().hex[:12]
