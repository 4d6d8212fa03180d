"""Type stubs of the native extension `iris._native` (public names are re-exported by `iris`)."""

from typing import Any, Callable, List, Optional, Protocol, Tuple, Union

from ._limits import ServiceLimits, TopicLimits

_BytesLike = Union[bytes, bytearray, memoryview]

DEFAULT_MEMORY: int

class _TopicHandlerLike(Protocol):
    def handle_event(self, event: bytes) -> Any: ...

def default_threads() -> int:
    """The thread limit a field left at 0 takes: 4 x CPU count."""

def connect(port: int = 55555) -> Connection:
    """Connects to the Iris node listening on `port` of this host.

    Raises `iris.ConnectionError` when no node listens there.
    """

def register(port: int, cluster: str, handler: Any, limits: Optional[ServiceLimits] = None) -> Service:
    """Registers `handler` (an `iris.ServiceHandler`) as a member of `cluster` at the node on `port`.

    `handler.init(conn)` runs before this returns and before any other handler; an exception
    from it aborts the registration and is raised here.
    """

class Connection:
    """A connection to the local Iris node, made by `iris.connect`.

    Closed by `close()`, by leaving a `with` block, or when the last reference goes away. Safe to
    use from many threads at once; every call releases the GIL while it waits and can be
    interrupted with Ctrl-C.
    """

    @property
    def is_open(self) -> bool:
        """True until the connection starts closing."""
    @property
    def id(self) -> int:
        """A process-unique id of the connection (as in log lines)."""
    def request(self, cluster: str, request: _BytesLike, timeout: float) -> bytes:
        """Sends `request` to one member of `cluster` and returns its reply.

        Raises `iris.TimeoutError` when no reply comes within `timeout` seconds (also when the
        cluster has no member), `iris.RemoteError` with the service's fault text,
        `iris.ClosedError`, `iris.InvalidArgumentError` (empty name or payload, timeout < 1 ms).
        """
    def broadcast(self, cluster: str, message: _BytesLike) -> None:
        """Sends `message` to every member of `cluster` (best effort, no reply)."""
    def publish(self, topic: str, event: _BytesLike) -> None:
        """Sends `event` to every subscriber of `topic` (best effort)."""
    def subscribe(
        self,
        topic: str,
        handler: Union[Callable[[bytes], Any], _TopicHandlerLike],
        limits: Optional[TopicLimits] = None,
    ) -> None:
        """Subscribes to `topic`: each event goes to `handler` on a handler thread, within `limits`.

        Subscribing twice to one topic raises `iris.InvalidArgumentError`.
        """
    def unsubscribe(self, topic: str) -> None:
        """Ends the subscription to `topic`; events already queued for it are dropped.

        Unsubscribing from a topic not subscribed raises `iris.InvalidArgumentError`.
        """
    def tunnel(self, cluster: str, timeout: float) -> Tunnel:
        """Opens a tunnel to one member of `cluster`, waiting at most `timeout` seconds for it."""
    def close(self) -> None:
        """Closes the connection gracefully; calls blocked on it raise `iris.ClosedError`.

        Closing twice is fine; closing from inside a handler does not wait for the drain.
        """
    def __enter__(self) -> Connection: ...
    def __exit__(self, *exc: object) -> bool: ...
    # asyncio bridge, used by iris.aio
    def _start_request(self, done: Completions, future: Any, cluster: str, request: _BytesLike, timeout: float) -> TaskHandle: ...
    def _start_broadcast(self, done: Completions, future: Any, cluster: str, message: _BytesLike) -> TaskHandle: ...
    def _start_publish(self, done: Completions, future: Any, topic: str, event: _BytesLike) -> TaskHandle: ...
    def _start_subscribe(self, done: Completions, future: Any, topic: str, handler: Any, event_loop: Any, limits: Optional[TopicLimits] = None) -> TaskHandle: ...
    def _start_unsubscribe(self, done: Completions, future: Any, topic: str) -> TaskHandle: ...
    def _start_tunnel(self, done: Completions, future: Any, cluster: str, timeout: float) -> TaskHandle: ...
    def _start_close(self, done: Completions, future: Any) -> TaskHandle: ...

class Service:
    """A registered member of a cluster, made by `iris.register`.

    Unregistered by `unregister()`, by leaving a `with` block, when the last reference goes away,
    or at interpreter exit.
    """

    @property
    def connection(self) -> Connection:
        """The service's own connection, usable as a client too."""
    def unregister(self) -> None:
        """Leaves the cluster gracefully: the node stops routing to this member, requests already
        delivered are answered, then the connection closes. Unregistering twice is fine."""
    def __enter__(self) -> Service: ...
    def __exit__(self, *exc: object) -> bool: ...
    def _start_unregister(self, done: Completions, future: Any) -> TaskHandle: ...

class Tunnel:
    """An ordered, flow-controlled message stream to one cluster member.

    From `Connection.tunnel`, or handed to `ServiceHandler.handle_tunnel`. `send` and `recv` may
    run concurrently on different threads. Closed by `close()`, by leaving a `with` block, or when
    the last reference goes away.
    """

    @property
    def id(self) -> int:
        """The tunnel's id on its connection."""
    def send(self, message: _BytesLike, timeout: Optional[float] = None) -> None:
        """Sends one message, waiting for flow-control allowance as needed.

        `timeout` (seconds) covers the whole message; None waits as long as it takes.
        """
    def recv(self, timeout: Optional[float] = None) -> bytes:
        """Receives the next message, waiting at most `timeout` seconds (None: forever).

        Messages that arrived before the tunnel closed are still returned; then `iris.ClosedError`.
        """
    def close(self) -> None:
        """Closes the tunnel (waiting briefly for the node to confirm). Closing twice is fine."""
    def __enter__(self) -> Tunnel: ...
    def __exit__(self, *exc: object) -> bool: ...
    def _start_send(self, done: Completions, future: Any, message: _BytesLike, timeout: Optional[float] = None) -> TaskHandle: ...
    def _start_recv(self, done: Completions, future: Any, timeout: Optional[float] = None) -> TaskHandle: ...
    def _start_close(self, done: Completions, future: Any) -> TaskHandle: ...

class Completions:
    """The completion queue of one asyncio event loop (internal to `iris.aio`)."""

    def __init__(self) -> None: ...
    def take_reader_fd(self) -> int: ...
    def take(self) -> List[Tuple[Any, bool, Any]]: ...

class TaskHandle:
    """Lets asyncio abandon the core call behind a cancelled future (internal)."""

    def abort(self) -> None: ...

def start_connect(done: Completions, future: Any, port: int) -> TaskHandle: ...
def start_register(done: Completions, future: Any, port: int, cluster: str, handler: Any, event_loop: Any, limits: Optional[ServiceLimits] = None) -> TaskHandle: ...
def shutdown() -> None:
    """Closes every open connection and service; registered with `atexit` by `iris`."""
def error_kinds() -> List[Tuple[str, int, str]]:
    """`(code, number, exception class name)` of every error kind of the core."""
def make_error(code: str, message: str) -> BaseException:
    """The exception iris raises for an error of kind `code` with `message`."""
