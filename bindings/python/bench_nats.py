"""The Python benchmark's workloads against nats-server with nats-py, for a side-by-side figure.

    pip install nats-py; apt-get install nats-server
    python bench_nats.py [--quick]

Starts `nats-server -a 127.0.0.1 -p <free port>` itself. Same shapes as bench.py: request round
trip (1 in flight; the responder is a Python callback in the same process), 128 requests in flight
from asyncio, and events/s delivered to one Python subscriber callback (counted up to the last
event delivered; nats-server drops messages for a slow consumer).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import time

import nats


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def main(quick: bool) -> None:
    port = free_port()
    server = subprocess.Popen(["nats-server", "-a", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"nats://127.0.0.1:{port}"
        for _ in range(50):
            try:
                service = await nats.connect(url)
                break
            except Exception:
                await asyncio.sleep(0.1)
        else:
            raise SystemExit("nats-server did not start")

        async def echo(msg):
            await msg.respond(msg.data)

        await service.subscribe("bench", cb=echo)
        client = await nats.connect(url)

        n = 2000 if quick else 20000
        for _ in range(500):
            await client.request("bench", b"x", timeout=5)
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            await client.request("bench", b"x", timeout=5)
            samples.append(time.perf_counter() - start)
        print(f"| nats-py request latency, 1 in flight (median) | {statistics.median(samples) * 1e6:.0f} | us |")
        print(f"| nats-py request latency, 1 in flight (mean) | {statistics.fmean(samples) * 1e6:.0f} | us |")

        seconds = 1.0 if quick else 5.0
        done = 0
        deadline = time.perf_counter() + seconds

        async def worker():
            nonlocal done
            while time.perf_counter() < deadline:
                await client.request("bench", b"x", timeout=10)
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(128)))
        print(f"| nats-py requests/s, 128 in flight | {done / (time.perf_counter() - start):.0f} | req/s |")

        subscriber = await nats.connect(url, pending_size=512 * 1024 * 1024)
        count = 0
        last = time.perf_counter()

        async def on_event(msg):
            nonlocal count, last
            count += 1
            last = time.perf_counter()

        await subscriber.subscribe("events", cb=on_event, pending_msgs_limit=10_000_000)
        await subscriber.flush()
        total = 100_000 if quick else 1_000_000
        start = time.perf_counter()
        for _ in range(total):
            await client.publish("events", b"x")
        await client.flush()
        previous = -1
        while count < total and count != previous:
            previous = count
            await asyncio.sleep(1.0)
        print(f"| nats-py events/s to one subscriber (delivered {count} of {total}) | {count / (last - start):.0f} | events/s |")
        for c in (client, subscriber, service):
            await c.close()
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    asyncio.run(main(parser.parse_args().quick))
