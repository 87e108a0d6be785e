"""Values shared by the blocking and the asyncio connection: lifecycle, proxy, cycle end."""

from __future__ import annotations

import enum
from typing import NamedTuple

__all__ = ["ConnectionState", "CycleEnd", "Proxy"]


class ConnectionState(enum.Enum):
    """Where a connection is in its life; only ``_end_cycle`` and ``_fail`` move it on."""

    NEW = "NEW"
    ACTIVE = "ACTIVE"
    IDLE = "IDLE"
    CLOSED = "CLOSED"


class Proxy(NamedTuple):
    """An HTTP proxy to reach the origin through: where it listens and what to tell it."""

    host: str
    port: int
    headers: tuple[tuple[str, str], ...] = ()


class CycleEnd(NamedTuple):
    """How one request/response cycle ended, reported once to the connection's owner."""

    kept: bool  # the connection is IDLE and may carry another request
    reason: str  # why it was not kept ("" when kept)
    reused: bool  # the connection had carried an earlier request
    request_sent: bool  # some byte of the request reached the wire
    response_started: bool  # some byte of the response arrived
    idle_timeout_hint: float | None  # the server's Keep-Alive: timeout=, if it sent one
    since_head: float  # seconds from the response head's arrival to this report
