"""A separator chosen for a run and loaded once, on first use (shared by the API, the cache and executors).

Its own module so that caching.py and api.py, which both use it, need not import each other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audio_playground.backends import Choice
    from audio_playground.specs import SeparatorSpec

__all__ = ["Loaded"]


class Loaded:
    """A separator chosen for a run and loaded once, on first use: a run served by the cache never loads it."""

    def __init__(
        self,
        spec: SeparatorSpec,
        separator: Any = None,
        options: Mapping[str, Any] | None = None,
        *,
        choice: Choice | None = None,
        device: str = "auto",
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.spec = spec
        """The spec in use: the first candidate until a load falls back to another backend."""
        self.options: Mapping[str, Any] = dict(options or {})
        self.choice = choice
        self.device = device
        self.warn = warn or (lambda message: None)
        self._separator = separator
        self._by_rate: dict[int, Any] = {}
        self._identity: dict[int, str | None] = {}

    @property
    def loaded(self) -> bool:
        return self._separator is not None

    @property
    def separator(self) -> Any:
        """The loaded model (loading it now, with backend fallback, on first access)."""
        if self._separator is None:
            from audio_playground.backends import Choice, load_separator

            choice = self.choice or Choice(self.spec.name, (self.spec,))
            # The choice's own warnings were given when it was made: only load failures warn here.
            choice = Choice(choice.name, choice.candidates)
            self.spec, self._separator = load_separator(choice, self.options, self.device, self.warn)
        return self._separator

    def identity(self) -> str | None:
        """The spec's cache identity (model name + weights hash) for these options, computed once per spec."""
        if self.spec.cache_identity is None:
            return None
        if id(self.spec) not in self._identity:
            self._identity[id(self.spec)] = self.spec.cache_identity(self.options)
        return self._identity[id(self.spec)]

    def for_rate(self, sample_rate: int) -> Any:
        """The separator for an input at `sample_rate` (rate-agnostic separators adapt; others resample)."""
        if not getattr(self.separator, "any_rate", False):
            return self.separator
        if sample_rate not in self._by_rate:
            self._by_rate[sample_rate] = self.separator.for_rate(sample_rate)
        return self._by_rate[sample_rate]

    @property
    def model_name(self) -> str:
        return str(self.options.get("model") or self.spec.name)
