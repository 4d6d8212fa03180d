"""Threads, the GIL and interpreter-level behaviour."""

from __future__ import annotations

import threading
import time

import iris


class Echo(iris.ServiceHandler):
    def handle_request(self, request: bytes) -> bytes:
        return request


def test_eight_threads_times_fifty_requests(port: int, name: str) -> None:
    errors: list[BaseException] = []
    counts = [0] * 8

    def worker(index: int, conn: iris.Connection) -> None:
        try:
            for i in range(50):
                payload = b"%d-%d" % (index, i)
                assert conn.request(name, payload, timeout=10.0) == payload
                counts[index] += 1
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    with iris.register(port, name, Echo()), iris.connect(port) as conn:
        threads = [threading.Thread(target=worker, args=(i, conn)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert errors == []
    assert counts == [50] * 8


def test_gil_is_released_while_a_call_waits(port: int, name: str) -> None:
    class Slow(iris.ServiceHandler):
        def handle_request(self, request: bytes) -> bytes:
            time.sleep(0.5)
            return request

    ticks = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1  # pure Python: needs the GIL

    with iris.register(port, name, Slow()), iris.connect(port) as conn:
        spinner = threading.Thread(target=spin)
        spinner.start()
        time.sleep(0.05)
        before = ticks
        assert conn.request(name, b"x", timeout=5.0) == b"x"
        during = ticks - before
        stop.set()
        spinner.join()
    assert during > 1000


def test_handlers_run_on_threads_python_knows(port: int, name: str) -> None:
    names: list[str] = []

    class Who(iris.ServiceHandler):
        def handle_request(self, request: bytes) -> bytes:
            names.append(threading.current_thread().name)
            return request

    with iris.register(port, name, Who()), iris.connect(port) as conn:
        conn.request(name, b"x", timeout=2.0)
    assert names and names[0] != threading.main_thread().name
