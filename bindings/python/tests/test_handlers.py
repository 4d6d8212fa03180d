"""Handler behaviour: init, exceptions logged, coroutine handlers, drop."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

import iris


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(r.exc_info and text in str(r.exc_info[1]) for r in caplog.records)


def test_broadcast_and_tunnel_handler_exceptions_are_logged(port: int, name: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="iris")

    class Broken(iris.ServiceHandler):
        def handle_broadcast(self, message: bytes) -> None:
            raise ValueError("broken broadcast " + message.decode())

        def handle_tunnel(self, tunnel: iris.Tunnel) -> None:
            raise KeyError("broken tunnel")

    with iris.register(port, name, Broken()), iris.connect(port) as conn:
        conn.broadcast(name, b"b1")
        conn.tunnel(name, timeout=2.0).close()
        assert wait_for(lambda: logged(caplog, "broken broadcast b1"))
        assert wait_for(lambda: logged(caplog, "broken tunnel"))
        # the service keeps working after its handlers raised
        conn.broadcast(name, b"b2")
        assert wait_for(lambda: logged(caplog, "broken broadcast b2"))
    assert all(r.name == "iris" for r in caplog.records)


def test_event_handler_exceptions_are_logged(port: int, name: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="iris")

    def broken_event(event: bytes) -> None:
        raise RuntimeError("broken event " + event.decode())

    with iris.connect(port) as conn:
        conn.subscribe(name, broken_event)
        time.sleep(0.1)
        conn.publish(name, b"e1")
        assert wait_for(lambda: logged(caplog, "broken event e1"))
        conn.publish(name, b"e2")
        assert wait_for(lambda: logged(caplog, "broken event e2"))


def test_init_runs_first_and_its_exception_aborts_registration(port: int, name: str) -> None:
    class Slow(iris.ServiceHandler):
        initialized = False

        def init(self, conn: iris.Connection) -> None:
            time.sleep(0.3)
            self.initialized = True

        def handle_request(self, request: bytes) -> bytes:
            return b"yes" if self.initialized else b"no"

    handler = Slow()
    registering = threading.Thread(target=lambda: services.append(iris.register(port, name, handler)))
    services: list[iris.Service] = []
    registering.start()
    with iris.connect(port) as conn:
        time.sleep(0.1)  # the member is in the cluster, its init still running
        assert conn.request(name, b"?", timeout=5.0) == b"yes"
    registering.join(5)
    services[0].unregister()

    class Refuses(iris.ServiceHandler):
        def init(self, conn: iris.Connection) -> None:
            raise RuntimeError("not today")

    with pytest.raises(RuntimeError, match="not today"):
        iris.register(port, name + "r", Refuses())
    with iris.connect(port) as conn:
        with pytest.raises(iris.TimeoutError):
            conn.request(name + "r", b"x", timeout=0.3)


def test_async_request_handler_with_blocking_register(port: int, name: str) -> None:
    class AsyncEcho(iris.ServiceHandler):
        async def handle_request(self, request: bytes) -> bytes:
            await asyncio.sleep(0.01)
            if request == b"fail":
                raise LookupError("async fault")
            return b"async:" + request

    with iris.register(port, name, AsyncEcho()), iris.connect(port) as conn:
        assert conn.request(name, b"x", timeout=2.0) == b"async:x"
        with pytest.raises(iris.RemoteError, match="async fault"):
            conn.request(name, b"fail", timeout=2.0)


def test_handle_drop_when_the_node_goes_away(private_node) -> None:
    dropped: list[BaseException] = []
    got = threading.Event()

    class Member(iris.ServiceHandler):
        def handle_drop(self, reason: Exception) -> None:
            dropped.append(reason)
            got.set()

    service = iris.register(private_node.port, "dropme", Member())
    private_node.stop()
    assert got.wait(10)
    assert isinstance(dropped[0], iris.IrisError)
    with pytest.raises(iris.ClosedError):
        service.connection.request("dropme", b"x", timeout=1.0)
