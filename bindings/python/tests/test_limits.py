"""Limit semantics (enforced by the core, observed through Python handlers)."""

from __future__ import annotations

import logging
import threading
import time

import pytest

import iris


class Gauge:
    """Counts handler calls running at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0

    def __enter__(self) -> None:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.running -= 1


def test_request_thread_limit(port: int, name: str) -> None:
    gauge = Gauge()

    class Slow(iris.ServiceHandler):
        def handle_request(self, request: bytes) -> bytes:
            with gauge:
                time.sleep(0.2)
            return request

    replies: list[bytes] = []
    with iris.register(port, name, Slow(), limits=iris.ServiceLimits(request_threads=2)):
        with iris.connect(port) as conn:
            threads = [
                threading.Thread(target=lambda i=i: replies.append(conn.request(name, b"%d" % i, timeout=10.0)))
                for i in range(6)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(20)
    assert sorted(replies) == [b"%d" % i for i in range(6)]
    assert gauge.peak == 2


def test_event_thread_limit_one_keeps_order(port: int, name: str) -> None:
    gauge = Gauge()
    events: list[bytes] = []
    done = threading.Event()

    def handler(event: bytes) -> None:
        with gauge:
            time.sleep(0.01)
            events.append(event)
            if len(events) == 20:
                done.set()

    with iris.connect(port) as sub, iris.connect(port) as pub:
        sub.subscribe(name, handler, limits=iris.TopicLimits(event_threads=1))
        time.sleep(0.1)
        for i in range(20):
            pub.publish(name, b"%02d" % i)
        assert done.wait(10)
    assert events == [b"%02d" % i for i in range(20)]
    assert gauge.peak == 1


def test_memory_limit_drops_what_does_not_fit(port: int, name: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="iris")
    started = threading.Event()
    release = threading.Event()
    seen: list[bytes] = []

    class Blocking(iris.ServiceHandler):
        def handle_request(self, request: bytes) -> bytes:
            seen.append(request)
            if request == b"block":
                started.set()
                release.wait(10)
            return request

    limits = iris.ServiceLimits(request_threads=1, request_memory=100)
    outcomes: dict[str, object] = {}

    def call(conn: iris.Connection, key: str, payload: bytes, timeout: float) -> None:
        try:
            outcomes[key] = conn.request(name, payload, timeout=timeout)
        except iris.IrisError as e:
            outcomes[key] = e

    with iris.register(port, name, Blocking(), limits=limits), iris.connect(port) as conn:
        blocker = threading.Thread(target=call, args=(conn, "block", b"block", 10.0))
        blocker.start()
        assert started.wait(5)
        fits = threading.Thread(target=call, args=(conn, "fits", b"a" * 60, 10.0))
        fits.start()
        time.sleep(0.2)  # "fits" is queued: 60 of 100 octets in use
        call(conn, "dropped", b"b" * 60, 0.5)  # 120 > 100: dropped, the caller times out
        release.set()
        blocker.join(10)
        fits.join(10)
    assert outcomes["block"] == b"block"
    assert outcomes["fits"] == b"a" * 60
    assert isinstance(outcomes["dropped"], iris.TimeoutError)
    assert b"b" * 60 not in seen
    # the core's warning about the drop reaches Python logging
    deadline = time.monotonic() + 5
    while not any("dropped a 60-octet request" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
        time.sleep(0.02)


def test_request_expired_in_the_queue_never_runs(port: int, name: str) -> None:
    started = threading.Event()
    release = threading.Event()
    seen: list[bytes] = []

    class Blocking(iris.ServiceHandler):
        def handle_request(self, request: bytes) -> bytes:
            seen.append(request)
            if request == b"block":
                started.set()
                release.wait(10)
            return request

    with iris.register(port, name, Blocking(), limits=iris.ServiceLimits(request_threads=1)):
        with iris.connect(port) as conn:
            blocker = threading.Thread(target=lambda: conn.request(name, b"block", timeout=10.0))
            blocker.start()
            assert started.wait(5)
            with pytest.raises(iris.TimeoutError):
                conn.request(name, b"expires", timeout=0.3)
            release.set()
            blocker.join(10)
            # a request after it runs, the expired one never did
            assert conn.request(name, b"after", timeout=5.0) == b"after"
    assert seen == [b"block", b"after"]
