"""Fixtures: an iris node on a free loopback port, started once per test session."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[3]


def iris_bin() -> str:
    return os.environ.get("IRIS_BIN", str(REPO / "target" / "debug" / "iris"))


class Node:
    """A running `iris --dev --port 0`; `port` is the port it listens on."""

    def __init__(self) -> None:
        binary = iris_bin()
        if not os.path.exists(binary):
            pytest.fail(f"iris node binary not found at {binary}; run `cargo build --workspace` first")
        self.proc = subprocess.Popen(
            [binary, "--dev", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = re.fullmatch(r"iris relay listening on port (\d+)\n", line)
        if not match:
            self.stop()
            pytest.fail(f"unexpected first line from the node: {line!r}")
        self.port = int(match.group(1))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def node() -> Iterator[Node]:
    n = Node()
    yield n
    n.stop()


@pytest.fixture
def port(node: Node) -> int:
    return node.port


@pytest.fixture
def private_node() -> Iterator[Node]:
    """A node of the test's own, for tests that kill it."""
    n = Node()
    yield n
    n.stop()


@pytest.fixture
def name() -> str:
    """A cluster/topic name no other test uses."""
    return "t-" + uuid.uuid4().hex[:12]
