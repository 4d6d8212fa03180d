"""Iris for Python: decentralized messaging through the local ``iris`` node.

Connect with `connect`, serve a cluster with `register`; request/reply, broadcast,
publish/subscribe and tunnels. Blocking calls release the GIL and are interruptible with Ctrl-C;
`iris.aio` has the asyncio forms. All semantics (limits, expiry, ordering, errors) come from the
Rust client core this package wraps.
"""

from __future__ import annotations

import atexit as _atexit

from . import _native
from ._errors import (
    ClosedError,
    ConnectionError,
    InvalidArgumentError,
    IrisError,
    ProtocolError,
    RemoteError,
    TimeoutError,
)
from ._handlers import ServiceHandler, TopicHandler
from ._limits import ServiceLimits, TopicLimits
from ._native import Connection, Service, Tunnel, connect, register

__all__ = [
    "connect",
    "register",
    "Connection",
    "Service",
    "Tunnel",
    "ServiceHandler",
    "TopicHandler",
    "ServiceLimits",
    "TopicLimits",
    "IrisError",
    "TimeoutError",
    "ClosedError",
    "RemoteError",
    "InvalidArgumentError",
    "ProtocolError",
    "ConnectionError",
    "DEFAULT_MEMORY",
    "default_threads",
]

#: Queue memory a limit field left at 0 takes (64 MiB).
DEFAULT_MEMORY: int = _native.DEFAULT_MEMORY
default_threads = _native.default_threads

# Close what is still open before the interpreter finalizes, so no handler thread enters it then.
_atexit.register(_native.shutdown)

from . import aio  # noqa: E402  (needs the names above)
