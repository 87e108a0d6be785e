"""requests' ``structures`` module: ``CaseInsensitiveDict`` and ``LookupDict``.

``keepalive.Headers`` is what keepalive itself uses for header fields (ordered, repeated
fields kept, values checked to be text); ``CaseInsensitiveDict`` is the general mapping
requests users build for their own data, with any value, so that
``requests.structures.CaseInsensitiveDict`` keeps working under ``import keepalive as
requests``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any, TypeVar

__all__ = ["CaseInsensitiveDict", "LookupDict"]

V = TypeVar("V")


class CaseInsensitiveDict(MutableMapping[str, V]):
    """A dict whose ``str`` keys match whatever their case: ``d["Accept"]``,
    ``d["accept"]`` and ``"ACCEPT" in d`` find the same entry.

    Iteration, ``keys()`` and ``repr`` give each key as it was last set; ``lower_items()``
    gives them lower-cased. Equal to any mapping with the same keys (ignoring case) and
    values.
    """

    __slots__ = ("_store",)

    def __init__(
        self, data: Mapping[str, V] | Iterable[tuple[str, V]] | None = None, **kwargs: V
    ) -> None:
        self._store: dict[str, tuple[str, V]] = {}
        self.update(data or {}, **kwargs)

    def __setitem__(self, key: str, value: V) -> None:
        self._store[key.lower()] = (key, value)

    def __getitem__(self, key: str) -> V:
        return self._store[key.lower()][1]

    def __delitem__(self, key: str) -> None:
        del self._store[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self._store.values())

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._store

    def lower_items(self) -> Iterator[tuple[str, V]]:
        """``(key, value)`` pairs with every key lower-cased."""
        return ((lower, pair[1]) for lower, pair in self._store.items())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        return dict(self.lower_items()) == dict(CaseInsensitiveDict(other).lower_items())

    __hash__ = None  # type: ignore[assignment]  # mutable, as dict

    def copy(self) -> CaseInsensitiveDict[V]:
        """A new dict with the same entries (values are not copied)."""
        return CaseInsensitiveDict(self._store.values())

    def __repr__(self) -> str:
        return repr(dict(self.items()))


class LookupDict(dict[str, Any]):
    """requests' lookup table: values are attributes (``d.not_found``); ``d[name]`` and
    ``d.get(name)`` give None for a name it does not have, where an attribute lookup
    raises ``AttributeError``."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        super().__init__()

    def __repr__(self) -> str:
        return f"<lookup '{self.name}'>"

    def __getitem__(self, key: str) -> Any:
        return self.__dict__.get(key, None)

    def get(self, key: str, default: Any = None) -> Any:
        return self.__dict__.get(key, default)
