"""Benchmark of the Python binding against a node it starts itself.

    python bench.py [--quick] [--rust]

Measures, with 1-byte messages: request round-trip latency (1 in flight, blocking API), request
throughput with 128 requests in flight (asyncio API: how Python code keeps 128 requests in
flight), and publish throughput to one subscriber (events/s delivered to a Python callback with
event_threads=1). The service answering requests is a Python handler in the same process. With --rust it also runs the Rust client
core's `iris-bench` against the same node, for comparison. The node binary is IRIS_BIN or
target/release/iris (else target/debug/iris).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import iris
import iris.aio

REPO = Path(__file__).resolve().parents[2]


def find(name: str, env: str) -> str:
    if os.environ.get(env):
        return os.environ[env]
    for profile in ("release", "debug"):
        path = REPO / "target" / profile / name
        if path.exists():
            return str(path)
    sys.exit(f"{name} not found; build it with cargo build --release")


class Echo(iris.ServiceHandler):
    def handle_request(self, request: bytes) -> bytes:
        return request


def latency(port: int, n: int) -> None:
    with iris.connect(port) as conn:
        for _ in range(min(n, 500)):
            conn.request("bench", b"x", timeout=5.0)
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            conn.request("bench", b"x", timeout=5.0)
            samples.append(time.perf_counter() - start)
    print(f"| python request latency, 1 in flight (median) | {statistics.median(samples) * 1e6:.0f} | us |")
    print(f"| python request latency, 1 in flight (mean) | {statistics.fmean(samples) * 1e6:.0f} | us |")


def throughput(port: int, seconds: float, in_flight: int = 128) -> None:
    async def main() -> float:
        async with await iris.aio.connect(port) as conn:
            done = 0
            stop = time.perf_counter() + seconds

            async def worker() -> None:
                nonlocal done
                while time.perf_counter() < stop:
                    await conn.request("bench", b"x", timeout=5.0)
                    done += 1

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(in_flight)))
            return done / (time.perf_counter() - start)

    rate = asyncio.run(main())
    print(f"| python request throughput, {in_flight} in flight (asyncio) | {rate:.0f} | requests/s |")


def publish(port: int, n: int) -> None:
    received = 0
    all_in = threading.Event()

    def on_event(event: bytes) -> None:
        nonlocal received
        received += 1
        if received == n:
            all_in.set()

    with iris.connect(port) as sub, iris.connect(port) as pub:
        sub.subscribe("bench-topic", on_event, limits=iris.TopicLimits(event_threads=1))
        time.sleep(0.2)
        start = time.perf_counter()
        for _ in range(n):
            pub.publish("bench-topic", b"x")
        sent = time.perf_counter() - start
        all_in.wait(120)
        delivered = time.perf_counter() - start
    print(f"| python publish rate (publisher side) | {n / sent:.0f} | events/s |")
    print(f"| python events delivered to one subscriber | {received / delivered:.0f} | events/s |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    parser.add_argument("--rust", action="store_true", help="also run the Rust iris-bench on the same node")
    args = parser.parse_args()
    scale = 10 if args.quick else 1

    node = subprocess.Popen(
        [find("iris", "IRIS_BIN"), "--dev", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert node.stdout is not None
        port = int(re.search(r"port (\d+)", node.stdout.readline()).group(1))  # type: ignore[union-attr]
        print("| workload | result | unit |\n|---|---|---|")
        with iris.register(port, "bench", Echo()):
            latency(port, 20000 // scale)
            throughput(port, 5.0 / scale)
        publish(port, 500000 // scale)
        if args.rust:
            rust = subprocess.run(
                [find("iris-bench", "IRIS_BENCH_BIN"), "--port", str(port)] + (["--quick"] if args.quick else []),
                capture_output=True,
                text=True,
            )
            print(rust.stdout, end="")
    finally:
        node.terminate()
        node.wait()


if __name__ == "__main__":
    main()
