"""The exceptions of iris: one base class, one subclass per error kind of the core.

Each class also derives from the builtin exception a Python developer would catch for that
situation, so ``except TimeoutError`` and ``except ValueError`` keep working.
"""

from __future__ import annotations

import builtins

__all__ = [
    "IrisError",
    "TimeoutError",
    "ClosedError",
    "RemoteError",
    "InvalidArgumentError",
    "ProtocolError",
    "ConnectionError",
]


class IrisError(Exception):
    """Base class of every error iris raises.

    ``code`` is the core's stable error code (``"TIMEOUT"``, ``"CLOSED"``, ``"REMOTE"``,
    ``"INVALID_ARGUMENT"``, ``"PROTOCOL"``, ``"IO"``); ``str(error)`` is its message.
    """

    code: str = "UNKNOWN"

    @property
    def message(self) -> str:
        """The error message (for `RemoteError`, the service's fault text verbatim)."""
        return str(self.args[0]) if self.args else ""


class TimeoutError(IrisError, builtins.TimeoutError):  # noqa: A001 - deliberately shadows the builtin
    """The deadline passed: no reply, tunnel, flow-control allowance or message in time.

    Also raised for a request to a cluster that has no member.
    """

    code = "TIMEOUT"

    def __str__(self) -> str:
        return self.message


class ClosedError(IrisError):
    """The connection, service or tunnel is closed (by the application or the node), or the
    object belongs to the parent of a fork()ed process."""

    code = "CLOSED"


class RemoteError(IrisError):
    """The remote request handler failed; ``str(error)`` is its fault text, verbatim."""

    code = "REMOTE"


class InvalidArgumentError(IrisError, ValueError):
    """An argument the protocol cannot carry (empty name or payload, a timeout under 1 ms, a
    duplicate subscription, ...). Nothing was sent."""

    code = "INVALID_ARGUMENT"


class ProtocolError(IrisError):
    """The node broke the relay protocol or refused the handshake."""

    code = "PROTOCOL"


class ConnectionError(IrisError, builtins.ConnectionError):  # noqa: A001
    """The socket to the node failed (node not running, connection reset, ...)."""

    code = "IO"

    def __str__(self) -> str:
        return self.message


for _cls in (IrisError, TimeoutError, ClosedError, RemoteError, InvalidArgumentError, ProtocolError, ConnectionError):
    _cls.__module__ = "iris"
del _cls
