"""Error mapping, argument checks, timeouts, remote faults and closing."""

from __future__ import annotations

import builtins
import math
import socket
import threading
import time

import pytest

import iris
from iris import _native


def test_every_core_error_kind_maps_to_its_own_class() -> None:
    expected = {
        "TIMEOUT": (iris.TimeoutError, builtins.TimeoutError),
        "CLOSED": (iris.ClosedError, iris.IrisError),
        "REMOTE": (iris.RemoteError, iris.IrisError),
        "INVALID_ARGUMENT": (iris.InvalidArgumentError, ValueError),
        "PROTOCOL": (iris.ProtocolError, iris.IrisError),
        "IO": (iris.ConnectionError, builtins.ConnectionError),
    }
    kinds = _native.error_kinds()
    assert sorted(code for code, _, _ in kinds) == sorted(expected)
    assert sorted(number for _, number, _ in kinds) == [1, 2, 3, 4, 5, 6]
    classes = set()
    for code, _number, class_name in kinds:
        error = _native.make_error(code, "some message")
        cls, builtin = expected[code]
        assert type(error) is cls and cls.__name__ == class_name
        assert isinstance(error, iris.IrisError) and isinstance(error, builtin)
        assert error.code == code == cls.code
        assert str(error) == "some message" == error.message
        classes.add(cls)
    assert len(classes) == len(kinds)


def test_remote_fault_text_travels_verbatim(port: int, name: str) -> None:
    class Faulty(iris.ServiceHandler):
        def handle_request(self, request: bytes) -> bytes:
            if request == b"empty":
                raise ValueError()
            raise RuntimeError("näh: " + request.decode())

    with iris.register(port, name, Faulty()), iris.connect(port) as conn:
        with pytest.raises(iris.RemoteError) as caught:
            conn.request(name, b"no way", timeout=2.0)
        assert str(caught.value) == "näh: no way"
        assert caught.value.code == "REMOTE"
        with pytest.raises(iris.RemoteError) as caught:
            conn.request(name, b"empty", timeout=2.0)
        assert str(caught.value)  # the core fills in a message for an empty fault


def test_reply_of_the_wrong_type_is_a_fault(port: int, name: str) -> None:
    class Wrong(iris.ServiceHandler):
        def handle_request(self, request: bytes) -> bytes:
            return "a str"  # type: ignore[return-value]

    with iris.register(port, name, Wrong()), iris.connect(port) as conn:
        with pytest.raises(iris.RemoteError, match="must return bytes"):
            conn.request(name, b"x", timeout=2.0)


def test_request_without_member_times_out(port: int, name: str) -> None:
    with iris.connect(port) as conn:
        start = time.monotonic()
        with pytest.raises(iris.TimeoutError) as caught:
            conn.request(name, b"x", timeout=0.3)
        assert time.monotonic() - start >= 0.25
        assert isinstance(caught.value, builtins.TimeoutError) and caught.value.code == "TIMEOUT"
        with pytest.raises(iris.TimeoutError):
            conn.tunnel(name, timeout=0.3)


@pytest.mark.parametrize("timeout", [0.0, 0.0005, -1.0, math.nan])
def test_bad_timeouts_are_value_errors(port: int, name: str, timeout: float) -> None:
    with iris.connect(port) as conn:
        with pytest.raises(ValueError) as caught:
            conn.request(name, b"x", timeout=timeout)
        assert isinstance(caught.value, iris.InvalidArgumentError)
        assert caught.value.code == "INVALID_ARGUMENT"


def test_bad_arguments(port: int, name: str) -> None:
    with iris.connect(port) as conn:
        for call in (
            lambda: conn.request("", b"x", timeout=1.0),
            lambda: conn.request(name, b"", timeout=1.0),
            lambda: conn.broadcast(name, b""),
            lambda: conn.publish("", b"x"),
            lambda: conn.publish(name, b""),
            lambda: conn.tunnel("", timeout=1.0),
            lambda: conn.unsubscribe(name),  # not subscribed
        ):
            with pytest.raises(iris.InvalidArgumentError):
                call()
        for call in (
            lambda: conn.request(name, "a str", timeout=1.0),
            lambda: conn.request(42, b"x", timeout=1.0),
            lambda: conn.publish(name, None),
            lambda: conn.subscribe(name, 42),
            lambda: conn.request(name, b"x", timeout="soon"),
        ):
            with pytest.raises(TypeError):
                call()
    with pytest.raises(ValueError):
        iris.ServiceLimits(request_threads=-1)
    with pytest.raises(TypeError):
        iris.TopicLimits(event_threads=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        iris.connect(70000)
    with pytest.raises(TypeError):
        iris.register(port, name, None)


def test_double_subscribe_is_refused(port: int, name: str) -> None:
    with iris.connect(port) as conn:
        conn.subscribe(name, lambda event: None)
        with pytest.raises(iris.InvalidArgumentError):
            conn.subscribe(name, lambda event: None)
        conn.unsubscribe(name)


def test_connecting_without_a_node_is_a_connection_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    with pytest.raises(iris.ConnectionError) as caught:
        iris.connect(free)
    assert caught.value.code == "IO" and isinstance(caught.value, builtins.ConnectionError)


def test_calls_after_close_raise_closed(port: int, name: str) -> None:
    conn = iris.connect(port)
    conn.close()
    conn.close()  # twice is fine
    assert not conn.is_open
    with pytest.raises(iris.ClosedError) as caught:
        conn.request(name, b"x", timeout=1.0)
    assert caught.value.code == "CLOSED"
    with pytest.raises(iris.ClosedError):
        conn.publish(name, b"x")


def test_close_releases_blocked_calls(port: int, name: str) -> None:
    release = threading.Event()

    class Slow(iris.ServiceHandler):
        def handle_request(self, request: bytes) -> bytes:
            release.wait(10)
            return request

        def handle_tunnel(self, tunnel: iris.Tunnel) -> None:
            release.wait(10)

    outcomes: dict[str, BaseException] = {}

    def blocked(what: str, call) -> None:
        try:
            call()
        except BaseException as e:  # noqa: BLE001 - recorded for the assertions
            outcomes[what] = e

    with iris.register(port, name, Slow()):
        conn = iris.connect(port)
        tunnel = conn.tunnel(name, timeout=2.0)
        threads = [
            threading.Thread(target=blocked, args=("request", lambda: conn.request(name, b"x", timeout=30.0))),
            threading.Thread(target=blocked, args=("recv", lambda: tunnel.recv(timeout=None))),
        ]
        for t in threads:
            t.start()
        time.sleep(0.3)
        start = time.monotonic()
        conn.close()
        for t in threads:
            t.join(10)
        assert time.monotonic() - start < 5
        release.set()
    assert isinstance(outcomes["request"], iris.ClosedError)
    assert isinstance(outcomes["recv"], iris.ClosedError)


def test_tunnel_recv_timeout_and_close(port: int, name: str) -> None:
    class Quiet(iris.ServiceHandler):
        def handle_tunnel(self, tunnel: iris.Tunnel) -> None:
            tunnel.send(b"one", timeout=2.0)
            tunnel.recv(timeout=5.0)  # closing right away could drop "one" in flight
            tunnel.close()

    with iris.register(port, name, Quiet()), iris.connect(port) as conn:
        tunnel = conn.tunnel(name, timeout=2.0)
        assert tunnel.recv(timeout=2.0) == b"one"
        tunnel.send(b"bye", timeout=2.0)
        with pytest.raises(iris.ClosedError):
            tunnel.recv(timeout=2.0)
        tunnel.close()
    with iris.connect(port) as conn:
        # A member that keeps the tunnel open but sends nothing: recv times out.
        held: list[iris.Tunnel] = []

        class Keep(iris.ServiceHandler):
            def handle_tunnel(self, tunnel: iris.Tunnel) -> None:
                held.append(tunnel)

        with iris.register(port, name + "k", Keep()):
            tunnel = conn.tunnel(name + "k", timeout=2.0)
            with pytest.raises(iris.TimeoutError):
                tunnel.recv(timeout=0.2)
            tunnel.close()
