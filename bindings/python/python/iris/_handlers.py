"""Handler base classes, and the shims through which the native core calls Python handlers.

The core calls the shims on its own handler threads (with the GIL taken only for the call). A
shim picks the user's method or the default, runs a coroutine handler to completion on an event
loop (the ``iris.aio`` caller's loop, or a background loop the binding owns) while the handler
thread waits without the GIL, checks reply types, and logs exceptions of broadcast, event,
tunnel and drop handlers through ``logging.getLogger("iris")``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import threading
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Optional

if TYPE_CHECKING:
    from ._native import Connection, Tunnel

__all__ = ["ServiceHandler", "TopicHandler"]

log = logging.getLogger("iris")


class ServiceHandler:
    """Callbacks of a service member; override the ones your service uses.

    Every method may also be an ``async def`` coroutine function: it then runs on an asyncio loop
    (the loop of ``iris.aio.register``, or a background loop the binding owns for
    ``iris.register``) while the handler thread waits for it. Methods run on handler threads the
    binding provides: ``init`` once before anything else, then requests and broadcasts
    concurrently up to the `ServiceLimits`, each inbound tunnel on a thread of its own.
    """

    def init(self, conn: "Connection") -> None:
        """Runs once, before any other handler, with the service's own connection. Raising
        aborts the registration with that exception."""

    def handle_request(self, request: bytes) -> bytes:
        """Answers a request. Raising sends ``str(exception)`` back as the fault, which the
        caller receives as `iris.RemoteError`."""
        raise NotImplementedError("this service does not handle requests")

    def handle_broadcast(self, message: bytes) -> None:
        """Receives a message broadcast to the cluster. Exceptions are logged."""

    def handle_tunnel(self, tunnel: "Tunnel") -> None:
        """Serves an inbound tunnel. The tunnel closes when the last reference to it goes away
        (or on ``tunnel.close()``). Exceptions are logged."""

    def handle_drop(self, reason: Exception) -> None:
        """The node dropped this service (a non-graceful close); ``reason`` says why."""
        log.warning("iris service dropped: %s", reason)


class TopicHandler:
    """The callback of a topic subscription (a plain callable works as well)."""

    def handle_event(self, event: bytes) -> None:
        """Receives an event published to the topic. Exceptions are logged."""


# ---- the background event loop for coroutine handlers of blocking-API services ----

_loop_lock = threading.Lock()
_background: Optional[asyncio.AbstractEventLoop] = None


def _background_loop() -> asyncio.AbstractEventLoop:
    global _background
    with _loop_lock:
        if _background is None or _background.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="iris-asyncio", daemon=True).start()
            _background = loop
        return _background


def _forget_background_loop() -> None:
    global _background, _loop_lock
    _background = None  # its thread does not exist in a fork()ed child
    _loop_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_background_loop)


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


class _Shim:
    __slots__ = ("_loop",)

    def __init__(self, loop: Optional[asyncio.AbstractEventLoop]) -> None:
        self._loop = loop

    def _finish(self, result: Any) -> Any:
        """Runs a coroutine result to completion on the shim's loop; other results pass."""
        if result is None or type(result) is bytes or not inspect.isawaitable(result):
            return result
        loop = self._loop if self._loop is not None else _background_loop()
        if loop.is_closed() or not loop.is_running():
            if inspect.iscoroutine(result):
                result.close()
            raise RuntimeError("the event loop of this asynchronous handler is not running")
        # Future.result() waits on a lock, which releases the GIL.
        return asyncio.run_coroutine_threadsafe(_awaited(result), loop).result()


def _reply_bytes(reply: Any) -> bytes:
    if isinstance(reply, bytes):
        return reply
    if isinstance(reply, (bytearray, memoryview)):
        return bytes(reply)
    raise TypeError(f"handle_request must return bytes, not {type(reply).__name__}")


class ServiceShim(_Shim):
    """Adapts a service handler object for the native core (internal)."""

    __slots__ = ("_handler", "_init", "_request", "_broadcast", "_tunnel", "_drop")

    def __init__(self, handler: Any, loop: Optional[asyncio.AbstractEventLoop] = None) -> None:
        super().__init__(loop)
        if handler is None:
            raise TypeError("the service handler must be an object such as an iris.ServiceHandler, not None")
        self._handler = handler
        default = ServiceHandler()

        def pick(name: str) -> Callable[..., Any]:
            method: Any = getattr(handler, name, None)
            if method is None:
                method = getattr(default, name)
            if not callable(method):
                raise TypeError(f"the service handler's {name} must be callable")
            return method  # type: ignore[no-any-return]

        self._init = pick("init")
        self._request = pick("handle_request")
        self._broadcast = pick("handle_broadcast")
        self._tunnel = pick("handle_tunnel")
        self._drop = pick("handle_drop")

    def _connection(self, conn: Any) -> Any:
        if self._loop is None:
            return conn
        from .aio import Connection as AioConnection

        return AioConnection._wrap(conn)

    def _tunnel_for(self, tunnel: Any) -> Any:
        if self._loop is None or not inspect.iscoroutinefunction(self._tunnel):
            return tunnel
        from .aio import Tunnel as AioTunnel

        return AioTunnel._wrap(tunnel)

    def init(self, conn: Any) -> None:
        self._finish(self._init(self._connection(conn)))

    def handle_request(self, request: bytes) -> bytes:
        try:
            reply = self._request(request)
            if type(reply) is bytes:  # the common case, kept short
                return reply
            return _reply_bytes(self._finish(reply))
        except Exception:
            log.debug("request handler raised; its message goes back as the fault", exc_info=True)
            raise

    def handle_broadcast(self, message: bytes) -> None:
        try:
            self._finish(self._broadcast(message))
        except Exception:
            log.exception("broadcast handler of %r raised", self._handler)

    def handle_tunnel(self, tunnel: Any) -> None:
        try:
            self._finish(self._tunnel(self._tunnel_for(tunnel)))
        except Exception:
            log.exception("tunnel handler of %r raised", self._handler)

    def handle_drop(self, reason: BaseException) -> None:
        try:
            self._finish(self._drop(reason))
        except Exception:
            log.exception("drop handler of %r raised", self._handler)


class TopicShim(_Shim):
    """Adapts a topic handler (callable or `TopicHandler`) for the native core (internal)."""

    __slots__ = ("_topic", "_handler")

    def __init__(self, topic: str, handler: Any, loop: Optional[asyncio.AbstractEventLoop] = None) -> None:
        super().__init__(loop)
        method = getattr(handler, "handle_event", None)
        if callable(method):
            self._handler = method
        elif callable(handler):
            self._handler = handler
        else:
            raise TypeError(
                f"the topic handler must be callable or have handle_event, not {type(handler).__name__}"
            )
        self._topic = topic

    def handle_event(self, event: bytes) -> None:
        try:
            result = self._handler(event)
            if result is not None:
                self._finish(result)
        except Exception:
            log.exception("event handler of topic %r raised", self._topic)
