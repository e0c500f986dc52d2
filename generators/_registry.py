"""Name -> Generator class registry (timm-like)."""
from __future__ import annotations

from typing import Any, Callable, TypeVar

T = TypeVar("T")
_REGISTRY: dict[str, type] = {}


class UnknownGeneratorError(KeyError):
    """Raised for a generator name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


def register_generator(name: str) -> Callable[[T], T]:
    """Class decorator: `@register_generator("dcgan")` registers a Generator subclass under `name`."""
    def deco(cls: T) -> T:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"generator '{name}' is already registered")
        cls.name = name  # type: ignore[attr-defined]
        _REGISTRY[name] = cls  # type: ignore[assignment]
        return cls
    return deco


def get_generator_class(name: str) -> type:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownGeneratorError(
            f"unknown generator '{name}'; available: {', '.join(list_generators())}") from None


def list_generators() -> list[str]:
    """Registered generator names, sorted."""
    return sorted(_REGISTRY)


def create_generator(name: str, *, pretrained: bool = False, **config: Any):
    """Build a generator by name; `pretrained=True` loads the shipped weights (no config overrides then)."""
    cls = get_generator_class(name)
    if pretrained:
        if config:
            raise TypeError("config overrides cannot be combined with pretrained=True")
        from . import default_weights_dir
        return cls.load(default_weights_dir(name))
    return cls(**config)
