"""The asyncio API (iris.aio) and async handlers."""

from __future__ import annotations

import asyncio
import time

import pytest

import iris
import iris.aio


class Echo(iris.ServiceHandler):
    def handle_request(self, request: bytes) -> bytes:
        return request

    def handle_tunnel(self, tunnel: iris.Tunnel) -> None:
        with tunnel:
            while True:
                try:
                    tunnel.send(tunnel.recv(timeout=10.0), timeout=10.0)
                except iris.ClosedError:
                    return


def test_async_request_tunnel_and_errors(port: int, name: str) -> None:
    async def main() -> None:
        with iris.register(port, name, Echo()):
            async with await iris.aio.connect(port) as conn:
                assert conn.is_open
                replies = await asyncio.gather(*(conn.request(name, b"%d" % i, timeout=5.0) for i in range(50)))
                assert replies == [b"%d" % i for i in range(50)]
                await conn.broadcast(name, b"b")
                async with await conn.tunnel(name, timeout=2.0) as tunnel:
                    await tunnel.send(b"t1")
                    assert await tunnel.recv(timeout=2.0) == b"t1"
                with pytest.raises(iris.TimeoutError):
                    await conn.request(name + "-none", b"x", timeout=0.2)
                with pytest.raises(iris.InvalidArgumentError):
                    await conn.request(name, b"", timeout=1.0)
            assert not conn.is_open
            with pytest.raises(iris.ClosedError):
                await conn.request(name, b"x", timeout=1.0)

    asyncio.run(main())


def test_async_publish_subscribe_with_coroutine_handler(port: int, name: str) -> None:
    async def main() -> None:
        got: asyncio.Queue[bytes] = asyncio.Queue()

        async def on_event(event: bytes) -> None:
            await got.put(event)  # runs on this loop

        async with await iris.aio.connect(port) as sub, await iris.aio.connect(port) as pub:
            await sub.subscribe(name, on_event, limits=iris.TopicLimits(event_threads=1))
            await asyncio.sleep(0.1)
            for i in range(3):
                await pub.publish(name, b"e%d" % i)
            events = [await asyncio.wait_for(got.get(), 5) for _ in range(3)]
            assert events == [b"e0", b"e1", b"e2"]
            await sub.unsubscribe(name)

    asyncio.run(main())


def test_async_service_does_not_block_the_loop(port: int, name: str) -> None:
    class AsyncService(iris.ServiceHandler):
        def __init__(self) -> None:
            self.running = 0
            self.peak = 0
            self.conn = None

        async def init(self, conn: iris.aio.Connection) -> None:
            self.conn = conn

        async def handle_request(self, request: bytes) -> bytes:
            self.running += 1
            self.peak = max(self.peak, self.running)
            await asyncio.sleep(0.2)
            self.running -= 1
            return b"async:" + request

        async def handle_tunnel(self, tunnel: iris.aio.Tunnel) -> None:
            message = await tunnel.recv(timeout=5.0)
            await tunnel.send(b"async:" + message)
            await tunnel.close()

    async def main() -> None:
        handler = AsyncService()
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        tick_task = asyncio.create_task(ticker())
        limits = iris.ServiceLimits(request_threads=8)
        async with await iris.aio.register(port, name, handler, limits=limits) as service:
            assert isinstance(handler.conn, iris.aio.Connection)
            assert isinstance(service.connection, iris.aio.Connection)
            async with await iris.aio.connect(port) as conn:
                start = time.monotonic()
                replies = await asyncio.gather(*(conn.request(name, b"%d" % i, timeout=10.0) for i in range(8)))
                elapsed = time.monotonic() - start
                assert replies == [b"async:%d" % i for i in range(8)]
                tunnel = await conn.tunnel(name, timeout=2.0)
                await tunnel.send(b"tun")
                assert await tunnel.recv(timeout=5.0) == b"async:tun"
        tick_task.cancel()
        assert handler.peak > 1  # coroutines overlapped on the loop
        assert ticks > 5  # and the loop kept running meanwhile
        assert elapsed < 8 * 0.2  # generous: serial execution would take 1.6 s

    asyncio.run(main())


def test_cancelled_recv_does_not_swallow_a_message(port: int, name: str) -> None:
    async def main() -> None:
        with iris.register(port, name, Echo()):
            async with await iris.aio.connect(port) as conn:
                tunnel = await conn.tunnel(name, timeout=2.0)
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(tunnel.recv(), 0.2)
                await tunnel.send(b"later")
                assert await tunnel.recv(timeout=2.0) == b"later"
                await tunnel.close()

    asyncio.run(main())


def test_async_register_init_failure_raises(port: int, name: str) -> None:
    class Refuses(iris.ServiceHandler):
        def init(self, conn: object) -> None:
            raise PermissionError("no")

    async def main() -> None:
        with pytest.raises(PermissionError):
            await iris.aio.register(port, name, Refuses())
        with pytest.raises(iris.ConnectionError):
            await iris.aio.connect(1)

    asyncio.run(main())
