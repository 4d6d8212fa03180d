"""Python <-> Rust through one node: a Python service answers the Rust peer, and a Rust service
answers a Python client (requests, faults and tunnels both ways)."""

from __future__ import annotations

import subprocess
from typing import Iterator

import pytest

import iris


class PythonEcho(iris.ServiceHandler):
    def handle_request(self, request: bytes) -> bytes:
        if request == b"fail":
            raise RuntimeError("python refuses")
        return b"py:" + request

    def handle_tunnel(self, tunnel: iris.Tunnel) -> None:
        with tunnel:
            tunnel.send(b"py:" + tunnel.recv(timeout=10.0), timeout=10.0)


def run_peer(peer: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([peer, *args], capture_output=True, text=True, timeout=30)


def test_python_service_answers_rust_client(cross_port: int, peer: str, cluster: str) -> None:
    with iris.register(cross_port, cluster, PythonEcho()):
        result = run_peer(peer, "request", str(cross_port), cluster, "hello from rust")
        assert result.returncode == 0, result.stderr
        assert result.stdout == "py:hello from rust\n"

        result = run_peer(peer, "request", str(cross_port), cluster, "fail")
        assert result.returncode == 1
        assert result.stderr.strip() == "REMOTE: python refuses"

        result = run_peer(peer, "tunnel", str(cross_port), cluster, "through the tunnel")
        assert result.returncode == 0, result.stderr
        assert result.stdout == "py:through the tunnel\n"


@pytest.fixture
def rust_service(cross_port: int, peer: str, cluster: str) -> Iterator[str]:
    proc = subprocess.Popen(
        [peer, "serve", str(cross_port), cluster, "rs:"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        assert proc.stdout.readline() == "ready\n"
        yield cluster
    finally:
        proc.stdin.close()  # the peer unregisters when its stdin closes
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_rust_service_answers_python_client(cross_port: int, rust_service: str) -> None:
    with iris.connect(cross_port) as conn:
        assert conn.request(rust_service, b"hello from python", timeout=5.0) == b"rs:hello from python"
        with pytest.raises(iris.RemoteError) as caught:
            conn.request(rust_service, b"fail", timeout=5.0)
        assert str(caught.value) == "rust peer refuses"
        with conn.tunnel(rust_service, timeout=5.0) as tunnel:
            tunnel.send(b"one", timeout=5.0)
            tunnel.send(b"two", timeout=5.0)
            assert tunnel.recv(timeout=5.0) == b"rs:one"
            assert tunnel.recv(timeout=5.0) == b"rs:two"


def test_rust_service_answers_python_asyncio_client(cross_port: int, rust_service: str) -> None:
    import asyncio

    async def main() -> bytes:
        async with await iris.aio.connect(cross_port) as conn:
            return await conn.request(rust_service, b"async", timeout=5.0)

    assert asyncio.run(main()) == b"rs:async"
