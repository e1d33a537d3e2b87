"""The machinery under :mod:`toolace_r.config`'s sections: the base class every section derives
from (:class:`_Section`: its dotted name, conversion of each field to its declared type, checks whose
errors name the full key), building a section from a YAML mapping (:func:`_build`: unknown keys and
bad values fail naming ``section.key``) and :class:`ConfigError`. The sections themselves, loading,
merging and overrides are :mod:`toolace_r.config`'s.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from typing import Any, ClassVar


class ConfigError(ValueError):
    """A config that cannot run; the message starts with the dotted key (``mait.k: ...``)."""


def _names(values: typing.Iterable[str]) -> str:
    return " | ".join(values)


class _Section:
    """What every section shares: its dotted name, type conversion of its fields and errors that
    name the full key."""

    SECTION: ClassVar[str] = ""

    def __post_init__(self) -> None:
        self._convert()

    def _key(self, name: str) -> str:
        return f"{self.SECTION}.{name}" if self.SECTION else name

    def _fail(self, name: str, why: str) -> typing.NoReturn:
        raise ConfigError(f"{self._key(name)}: {why}")

    def _convert(self) -> None:
        """Bring every field to its declared type (YAML reads ``1e-4`` as a string, ``2`` for a
        float as an int), or fail naming the key."""
        hints = _hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            setattr(self, f.name, _coerce(self._key(f.name), getattr(self, f.name), hints[f.name]))

    def _at_least(self, name: str, low: float, why: str = "") -> None:
        if getattr(self, name) < low:
            self._fail(name, f"must be >= {low}{why}, got {getattr(self, name)!r}")

    def _share(self, name: str, open_low: bool = False) -> None:
        value = getattr(self, name)
        if not (0 < value <= 1 if open_low else 0 <= value <= 1):
            self._fail(name, f"must be in {'(0' if open_low else '[0'}, 1], got {value!r}")

    def _one_of(self, name: str, allowed: tuple[str, ...]) -> None:
        if getattr(self, name) not in allowed:
            self._fail(name, f"must be one of {allowed}, got {getattr(self, name)!r}")



@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(key: str, value: Any, typ: Any) -> Any:
    origin = typing.get_origin(typ)
    if isinstance(typ, type) and issubclass(typ, _Section):
        return value if isinstance(value, typ) else _build(typ, value, key + ".")
    if typ is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if typ is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if typ is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if origin is list:
        (inner,) = typing.get_args(typ)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_coerce(f"{key}[{i}]", v, inner) for i, v in enumerate(value)]
    raise ConfigError(f"{key}: unsupported type {typ}")


def _build(cls: type[_Section], data: Any, prefix: str = "") -> Any:
    """``cls`` from a mapping of its keys (nested sections as mappings); missing keys keep their
    defaults. Unknown keys and bad values fail naming the dotted key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping of keys, got {data!r}")
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for k in data:
        if k not in names:
            raise ConfigError(f"{prefix}{k}: unknown key; known keys here: {sorted(names)}")
    return cls(**data)
