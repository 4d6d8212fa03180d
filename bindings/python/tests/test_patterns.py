"""Every messaging pattern through the blocking API."""

from __future__ import annotations

import threading
import time

import iris


class Echo(iris.ServiceHandler):
    def __init__(self, prefix: bytes = b"") -> None:
        self.prefix = prefix
        self.broadcasts: list[bytes] = []
        self.got_broadcast = threading.Event()

    def handle_request(self, request: bytes) -> bytes:
        return self.prefix + request

    def handle_broadcast(self, message: bytes) -> None:
        self.broadcasts.append(message)
        self.got_broadcast.set()

    def handle_tunnel(self, tunnel: iris.Tunnel) -> None:
        with tunnel:
            while True:
                try:
                    message = tunnel.recv(timeout=10.0)
                except iris.ClosedError:
                    return
                tunnel.send(self.prefix + message, timeout=10.0)


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_request_reply(port: int, name: str) -> None:
    with iris.register(port, name, Echo(b"re:")), iris.connect(port) as conn:
        assert conn.request(name, b"hello", timeout=2.0) == b"re:hello"
        assert conn.request(name, bytearray(b"ba"), timeout=2.0) == b"re:ba"
        assert conn.request(name, memoryview(b"mv"), timeout=2.0) == b"re:mv"


def test_requests_are_load_balanced(port: int, name: str) -> None:
    with iris.register(port, name, Echo(b"a")), iris.register(port, name, Echo(b"b")):
        with iris.connect(port) as conn:
            replies = {conn.request(name, b"x", timeout=2.0)[:1] for _ in range(60)}
    assert replies == {b"a", b"b"}


def test_broadcast_reaches_every_member(port: int, name: str) -> None:
    one, two = Echo(), Echo()
    with iris.register(port, name, one), iris.register(port, name, two), iris.connect(port) as conn:
        conn.broadcast(name, b"to all")
        assert one.got_broadcast.wait(5) and two.got_broadcast.wait(5)
    assert one.broadcasts == [b"to all"] and two.broadcasts == [b"to all"]


def test_publish_subscribe_with_callable_and_topic_handler(port: int, name: str) -> None:
    events: list[bytes] = []

    class Collector(iris.TopicHandler):
        def __init__(self) -> None:
            self.events: list[bytes] = []

        def handle_event(self, event: bytes) -> None:
            self.events.append(event)

    collector = Collector()
    with iris.connect(port) as sub1, iris.connect(port) as sub2, iris.connect(port) as pub:
        sub1.subscribe(name, events.append, limits=iris.TopicLimits(event_threads=1))
        sub2.subscribe(name, collector)
        time.sleep(0.1)
        for i in range(5):
            pub.publish(name, b"ev%d" % i)
        assert wait_for(lambda: len(events) == 5 and len(collector.events) == 5)
        # one event thread: FIFO order is kept
        assert events == [b"ev%d" % i for i in range(5)]
        sub1.unsubscribe(name)
        pub.publish(name, b"after")
        assert wait_for(lambda: len(collector.events) == 6)
        time.sleep(0.1)
    assert events == [b"ev%d" % i for i in range(5)]


def test_tunnel_round_trip_in_order(port: int, name: str) -> None:
    with iris.register(port, name, Echo(b">")), iris.connect(port) as conn:
        with conn.tunnel(name, timeout=2.0) as tunnel:
            for i in range(20):
                tunnel.send(b"m%d" % i, timeout=2.0)
            assert [tunnel.recv(timeout=2.0) for _ in range(20)] == [b">m%d" % i for i in range(20)]
            assert isinstance(tunnel.id, int)


def test_tunnel_carries_a_4_mib_message_both_ways(port: int, name: str) -> None:
    big = bytes(range(256)) * (4 * 1024 * 1024 // 256)
    with iris.register(port, name, Echo()), iris.connect(port) as conn:
        with conn.tunnel(name, timeout=2.0) as tunnel:
            tunnel.send(big, timeout=30.0)
            assert tunnel.recv(timeout=30.0) == big


def test_service_connection_and_init(port: int, name: str) -> None:
    class Chained(iris.ServiceHandler):
        def init(self, conn: iris.Connection) -> None:
            self.conn = conn

        def handle_request(self, request: bytes) -> bytes:
            # A handler may use the service's own connection to call another service.
            return self.conn.request(name + "-inner", request, timeout=2.0)

    with iris.register(port, name + "-inner", Echo(b"inner:")):
        with iris.register(port, name, Chained()) as service, iris.connect(port) as conn:
            assert isinstance(service.connection, iris.Connection)
            assert service.connection.is_open
            assert conn.request(name, b"x", timeout=3.0) == b"inner:x"
            assert service.connection.request(name + "-inner", b"y", timeout=2.0) == b"inner:y"


def test_context_managers_close(port: int, name: str) -> None:
    with iris.connect(port) as conn:
        assert conn.is_open
    assert not conn.is_open
    service = iris.register(port, name, Echo())
    with service:
        pass
    with iris.connect(port) as conn:
        try:
            conn.request(name, b"x", timeout=0.3)
            raise AssertionError("an unregistered service answered")
        except iris.TimeoutError:
            pass


def test_duck_typed_handler_and_defaults(port: int, name: str) -> None:
    class OnlyRequests:  # not a ServiceHandler subclass
        def handle_request(self, request: bytes) -> bytes:
            return request.upper()

    with iris.register(port, name, OnlyRequests()), iris.connect(port) as conn:
        assert conn.request(name, b"abc", timeout=2.0) == b"ABC"
        conn.broadcast(name, b"ignored by the default handler")
    with iris.register(port, name + "2", iris.ServiceHandler()), iris.connect(port) as conn:
        try:
            conn.request(name + "2", b"x", timeout=2.0)
            raise AssertionError("the default handler answered")
        except iris.RemoteError as e:
            assert "does not handle requests" in str(e)
