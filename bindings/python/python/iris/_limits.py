"""Resource limits of services and subscriptions (enforced by the core)."""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["ServiceLimits", "TopicLimits"]


def _check(limits: object) -> None:
    for f in fields(limits):  # type: ignore[arg-type]
        value = getattr(limits, f.name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{f.name} must be an int, not {type(value).__name__}")
        if value < 0:
            raise ValueError(f"{f.name} must not be negative, got {value}")


@dataclass(frozen=True)
class ServiceLimits:
    """Limits of one service registration; a field left at 0 takes its default.

    - ``*_threads``: at most that many handler calls of that kind run at once; the rest wait in
      FIFO order (default: 4 x CPU count).
    - ``*_memory``: octets of payload queued but not yet started (default 64 MiB). A message that
      does not fit is dropped and logged; the caller of a dropped request times out.
    """

    broadcast_threads: int = 0
    broadcast_memory: int = 0
    request_threads: int = 0
    request_memory: int = 0

    def __post_init__(self) -> None:
        _check(self)


@dataclass(frozen=True)
class TopicLimits:
    """Limits of one topic subscription, with the meaning of `ServiceLimits`, for events."""

    event_threads: int = 0
    event_memory: int = 0

    def __post_init__(self) -> None:
        _check(self)
