"""Dataclasses that keep what they do not know: transformers' configs take any keyword, keep it as
an attribute and write it back, so a round trip through config.json loses nothing. Model configs
(:mod:`warmstart.config`) and generation settings (:mod:`warmstart.generation.config`) share this.
"""

from __future__ import annotations

import copy
from dataclasses import fields
from typing import Any


class ExtraFields:
    """Mixin for a dataclass with an ``extra: dict`` field: names that are not fields are read from
    and written to ``extra``; :meth:`fields_dict` is every field with the extra entries merged in."""

    extra: dict[str, Any]

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The dataclass fields, ``extra`` aside, in declaration order (cached per class)."""
        names = cls.__dict__.get("_field_names_cache")
        if names is None:
            names = tuple(f.name for f in fields(cls) if f.name != "extra")
            type.__setattr__(cls, "_field_names_cache", names)
        return names

    def _extra_value(self, name: str) -> Any:
        """``extra[name]``; AttributeError when absent (called from ``__getattr__``)."""
        extra = self.__dict__.get("extra")
        if extra is not None and name in extra:
            return extra[name]
        raise AttributeError(f"{type(self).__name__} has no field {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if (
            name == "extra"
            or name in self.field_names()
            or name.startswith("_")
            or hasattr(type(self), name)
        ):
            object.__setattr__(self, name, value)
        else:  # unknown names are kept and saved, as transformers does
            self.extra[name] = value

    def fields_dict(self) -> dict[str, Any]:
        """Every field by name (deep copies), the ``extra`` entries merged in at the top level."""
        out = {name: copy.deepcopy(getattr(self, name)) for name in self.field_names()}
        out.update(copy.deepcopy(self.extra))
        return out
