"""Call types and the size limits every decoder honours.

:class:`Call` (a name and keyword arguments), :class:`ParseResult` (what
:func:`toolace_r.calls.parse_calls` returns), :class:`DecodeError` (a typed decoding failure) and
the bounds on input length, nesting depth and call count. Nothing here imports another
module of :mod:`toolace_r.calls`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, Tuple, Union

MAX_INPUT_CHARS = 200_000
MAX_DEPTH = 200  # Python's own parser stops at 200 nested brackets
MAX_CALLS = 512
# The key a ``**mapping`` argument gets: BFCL keys it by None, which no schema accepts.
_DOUBLE_STAR = "**"


class DecodeError(ValueError):
    """A model output that does not decode into calls. ``kind`` is a short label."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Call:
    """One function call: a (possibly dotted) name and keyword arguments."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


Status = Literal["calls", "text", "malformed"]


@dataclass
class ParseResult:
    """``status``: "calls" (decoded; ``calls`` may be empty for ``[]``), "text" (plain text,
    a deliberate no-call), or "malformed" (looked like a call but did not decode)."""

    calls: list[Call]
    status: Status
    format: str = ""  # python | json | tool_call | "" (none)
    error: str = ""

    @property
    def has_calls(self) -> bool:
        return bool(self.calls)


class _NamedCall(Protocol):
    """Any object with a call's ``name`` and ``arguments`` (e.g. a checker's decoded call)."""

    name: str
    arguments: Mapping[str, Any]


# What :func:`toolace_r.calls.as_call` accepts: a Call, an object with .name/.arguments, a
# (name, arguments) pair or a one-entry {name: arguments} mapping.
CallLike = Union[Call, _NamedCall, Tuple[str, Mapping[str, Any]], Mapping[str, Mapping[str, Any]]]
