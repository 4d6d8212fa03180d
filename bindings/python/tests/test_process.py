"""Whole-process behaviour: exit with services registered, Ctrl-C, fork."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest


def run_script(code: str, port: int, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), str(port)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_interpreter_exits_cleanly_with_services_registered(port: int, name: str) -> None:
    result = run_script(
        f"""
        import sys, threading, time, iris
        port = int(sys.argv[1])
        class Echo(iris.ServiceHandler):
            def handle_request(self, request):
                return request
            def handle_broadcast(self, message):
                time.sleep(0.5)  # still running when the script ends
        service = iris.register(port, "{name}", Echo())
        conn = iris.connect(port)
        conn.subscribe("{name}-topic", lambda event: time.sleep(0.5))
        assert conn.request("{name}", b"x", timeout=2.0) == b"x"
        conn.broadcast("{name}", b"slow")
        conn.publish("{name}-topic", b"slow")
        time.sleep(0.1)
        print("done", flush=True)
        """,
        port,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    assert "Fatal" not in result.stderr and "panic" not in result.stderr


def test_ctrl_c_interrupts_a_blocking_call(port: int, name: str) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time, iris
                port = int(sys.argv[1])
                class Mute(iris.ServiceHandler):
                    def handle_tunnel(self, tunnel):
                        time.sleep(30)
                service = iris.register(port, "{name}", Mute())
                conn = iris.connect(port)
                tunnel = conn.tunnel("{name}", timeout=2.0)
                print("ready", flush=True)
                try:
                    tunnel.recv(timeout=None)
                except KeyboardInterrupt:
                    print("interrupted", flush=True)
                    sys.exit(3)
                """
            ),
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.2)
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        assert "interrupted" in out, err
        assert proc.returncode == 3
        assert time.monotonic() - start < 15
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_forked_child_gets_closed_error(port: int, name: str) -> None:
    result = run_script(
        f"""
        import os, sys, iris
        port = int(sys.argv[1])
        conn = iris.connect(port)
        pid = os.fork()
        if pid == 0:
            try:
                conn.request("{name}", b"x", timeout=1.0)
                os._exit(1)
            except iris.ClosedError:
                child = iris.connect(port)  # a fresh connection works in the child
                child.close()
                os._exit(0)
            except BaseException:
                os._exit(2)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
        """,
        port,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"
