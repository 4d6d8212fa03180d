"""asyncio API of iris: the same operations as the blocking API, as coroutines.

```python
import iris, iris.aio

async def main():
    async with await iris.aio.connect(55555) as conn:
        reply = await conn.request("echo", b"hi", timeout=1.0)
```

Calls never block the event loop: the core runs them on its own I/O threads and hands results
back through one wake-up socket per loop. A service registered with `register` here may define
``async def`` handlers; they run on the loop that registered the service. Cancelling an awaiting
call (e.g. with ``asyncio.wait_for``) abandons the core call behind it.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from typing import Any, Callable, Optional, Union

from . import _native
from ._limits import ServiceLimits, TopicLimits

__all__ = ["connect", "register", "Connection", "Service", "Tunnel"]

Bytes = Union[bytes, bytearray, memoryview]


class _Bridge:
    """The completion queue of one event loop (see the native module's `aio` docs)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.native = _native.Completions()
        fd = self.native.take_reader_fd()
        self._fd = fd
        loop.add_reader(fd, self._drain)
        weakref.finalize(loop, os.close, fd)

    def _drain(self) -> None:
        try:
            os.read(self._fd, 4096)
        except (BlockingIOError, InterruptedError):
            pass
        for future, ok, value in self.native.take():
            if future.done():  # cancelled meanwhile: the value is dropped (a tunnel closes)
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)


_bridges: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Bridge]" = weakref.WeakKeyDictionary()


async def _call(start: Callable[..., Any], *args: Any) -> Any:
    loop = asyncio.get_running_loop()
    bridge = _bridges.get(loop)
    if bridge is None:
        bridge = _bridges[loop] = _Bridge(loop)
    future = loop.create_future()
    task = start(bridge.native, future, *args)

    def cancel_core_call(f: "asyncio.Future[Any]") -> None:
        if f.cancelled():
            task.abort()

    future.add_done_callback(cancel_core_call)
    return await future


class Tunnel:
    """Async view of an `iris.Tunnel`: ordered, flow-controlled messages to one member."""

    __slots__ = ("sync",)

    def __init__(self, tunnel: _native.Tunnel) -> None:
        #: The blocking `iris.Tunnel` behind this one.
        self.sync = tunnel

    @classmethod
    def _wrap(cls, tunnel: _native.Tunnel) -> "Tunnel":
        return cls(tunnel)

    async def send(self, message: Bytes, timeout: Optional[float] = None) -> None:
        """Sends one message; `timeout` (seconds) covers the whole message, None = no limit."""
        await _call(self.sync._start_send, message, timeout)

    async def recv(self, timeout: Optional[float] = None) -> bytes:
        """Receives the next message, waiting at most `timeout` seconds (None: forever)."""
        result: bytes = await _call(self.sync._start_recv, timeout)
        return result

    async def close(self) -> None:
        """Closes the tunnel. Closing twice is fine."""
        await _call(self.sync._start_close)

    @property
    def id(self) -> int:
        """The tunnel's id on its connection."""
        return self.sync.id

    async def __aenter__(self) -> "Tunnel":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<iris.aio.Tunnel id={self.id}>"


class Connection:
    """Async view of an `iris.Connection` (see there for the semantics of each call)."""

    __slots__ = ("sync", "__weakref__")

    def __init__(self, conn: _native.Connection) -> None:
        #: The blocking `iris.Connection` behind this one (usable from other threads).
        self.sync = conn

    @classmethod
    def _wrap(cls, conn: _native.Connection) -> "Connection":
        return cls(conn)

    async def request(self, cluster: str, request: Bytes, timeout: float) -> bytes:
        """Sends `request` to one member of `cluster` and returns its reply."""
        result: bytes = await _call(self.sync._start_request, cluster, request, timeout)
        return result

    async def broadcast(self, cluster: str, message: Bytes) -> None:
        """Sends `message` to every member of `cluster`."""
        await _call(self.sync._start_broadcast, cluster, message)

    async def publish(self, topic: str, event: Bytes) -> None:
        """Sends `event` to every subscriber of `topic`."""
        await _call(self.sync._start_publish, topic, event)

    async def subscribe(self, topic: str, handler: Any, limits: Optional[TopicLimits] = None) -> None:
        """Subscribes `handler` (a callable, possibly ``async``, or an `iris.TopicHandler`) to
        `topic`; coroutine handlers run on this event loop."""
        loop = asyncio.get_running_loop()
        await _call(self.sync._start_subscribe, topic, handler, loop, limits)

    async def unsubscribe(self, topic: str) -> None:
        """Ends the subscription to `topic`."""
        await _call(self.sync._start_unsubscribe, topic)

    async def tunnel(self, cluster: str, timeout: float) -> Tunnel:
        """Opens a tunnel to one member of `cluster`."""
        return Tunnel(await _call(self.sync._start_tunnel, cluster, timeout))

    async def close(self) -> None:
        """Closes the connection gracefully. Closing twice is fine."""
        await _call(self.sync._start_close)

    @property
    def is_open(self) -> bool:
        """True until the connection starts closing."""
        return self.sync.is_open

    @property
    def id(self) -> int:
        """A process-unique id of the connection."""
        return self.sync.id

    async def __aenter__(self) -> "Connection":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<iris.aio.Connection id={self.id} open={self.is_open}>"


class Service:
    """Async view of an `iris.Service`."""

    __slots__ = ("sync", "connection")

    def __init__(self, service: _native.Service) -> None:
        #: The blocking `iris.Service` behind this one.
        self.sync = service
        #: The service's own connection.
        self.connection = Connection(service.connection)

    async def unregister(self) -> None:
        """Leaves the cluster gracefully (requests already delivered are answered)."""
        await _call(self.sync._start_unregister)

    async def __aenter__(self) -> "Service":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.unregister()

    def __repr__(self) -> str:
        return f"<iris.aio.Service {self.sync!r}>"


async def connect(port: int = 55555) -> Connection:
    """Connects to the Iris node listening on `port` of this host."""
    return Connection(await _call(_native.start_connect, port))


async def register(
    port: int, cluster: str, handler: Any, limits: Optional[ServiceLimits] = None
) -> Service:
    """Registers `handler` as a member of `cluster`. ``async def`` handler methods run on the
    current event loop; plain methods run on the binding's handler threads. `init` receives an
    `iris.aio.Connection`."""
    loop = asyncio.get_running_loop()
    return Service(await _call(_native.start_register, port, cluster, handler, loop, limits))
