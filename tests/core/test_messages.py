"""What a user reads when something is missing: one line, said once, naming the input; no ffmpeg advice."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from audio_playground import api, caching
from audio_playground.backends import Choice, load_separator
from audio_playground.errors import ModelError, PluginError
from audio_playground.specs import SeparatorSpec
from tests.conftest import noise, write_wav
from tests.core.test_caching import SR, DirCache, Halves

ROOT = Path(__file__).resolve().parents[2]


def _failing(backend: str, error: Exception) -> SeparatorSpec:
    def load(options: Mapping[str, Any], device: str) -> Any:
        raise error

    return SeparatorSpec("thing", backend, load, cache_identity=lambda o: "thing:m:abc")


def test_a_failure_every_backend_shares_is_raised_once_without_fallback_warnings() -> None:
    warnings: list[str] = []
    missing = "the weights of m are not on this machine"
    choice = Choice("thing", (_failing("onnx", ModelError(missing)), _failing("pytorch", ModelError(missing))))
    with pytest.raises(ModelError) as info:
        load_separator(choice, {}, "cpu", warnings.append)
    assert str(info.value) == f"{missing}." and warnings == []


def test_when_every_backend_fails_the_first_error_names_the_others() -> None:
    warnings: list[str] = []
    first = ModelError("model x is not on this machine", hint="run `hf download x`")
    choice = Choice(
        "thing",
        (
            _failing("mlx", first),
            _failing("pytorch", PluginError("needs sam_audio")),
            _failing("numpy", RuntimeError("numpy too")),
        ),
    )
    with pytest.raises(ModelError) as info:
        load_separator(choice, {}, "cpu", warnings.append)
    assert info.value is first and warnings == []
    assert str(first) == (
        "model x is not on this machine. run `hf download x`; the numpy and pytorch backends failed too "
        "(--backend numpy says why)."
    )
    bare = ModelError("no hint")
    with pytest.raises(ModelError, match=r"^no hint\. the pytorch backend failed too \(--backend pytorch"):
        load_separator(Choice("thing", (_failing("mlx", bare), _failing("pytorch", ModelError("x")))), {}, "cpu", print)
    plain = Choice("thing", (_failing("mlx", RuntimeError("plain")), _failing("pytorch", ModelError("x"))))
    with pytest.raises(RuntimeError, match=r"^plain$"):  # not ours to rewrite
        load_separator(plain, {}, "cpu", print)


def test_a_model_that_is_not_there_costs_the_cache_no_warning(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "in" / "mono.wav", noise(1, 9000, seed=3), SR)

    def gone(options: Mapping[str, Any]) -> str:
        raise ModelError("the model is not on this machine")

    spec = SeparatorSpec("halves", "numpy", lambda o, d: Halves([]), cache_identity=gone)
    warnings: list[str] = []
    session = caching.CacheSession(DirCache(tmp_path / "c"), warnings.append)
    assert caching.separation(session, api.Loaded(spec), wav, {}) is None
    assert warnings == [] and session.enabled


def test_a_model_error_names_the_input_it_was_run_on(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "in" / "mono.wav", noise(1, 9000, seed=3), SR)
    folder = tmp_path / "models" / "m"

    def load(options: Mapping[str, Any], device: str) -> Any:
        raise ModelError("the model folder lacks config.json", path=folder, hint="write one")

    with pytest.raises(ModelError) as info:
        api.separate_file(api.Loaded(SeparatorSpec("x", "numpy", load)), wav, tmp_path / "out")
    assert str(info.value) == f"{wav}: {folder}: the model folder lacks config.json. write one."

    class Rejects(Halves):
        def separate(self, chunk: Any) -> Any:
            raise PluginError("the backend ran out of memory")

    loaded = api.Loaded(SeparatorSpec("x", "numpy", lambda o, d: Rejects([])))
    with pytest.raises(PluginError, match=rf"^{wav}: the backend ran out of memory"):
        api.separate_file(loaded, wav, tmp_path / "out")
    assert not list((tmp_path / "out").glob("*.wav"))  # nothing half-written
    named = ModelError("already about it", path=wav)
    assert str(named.on_input(wav)) == f"{wav}: already about it."


def _hint_strings(tree: ast.AST) -> list[str]:
    """String constants that reach users as hints: hint=... arguments and *_HINT constants."""
    found: list[str] = []

    def strings(node: ast.AST) -> list[str]:
        return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]

    for node in ast.walk(tree):
        if (isinstance(node, ast.keyword) and node.arg == "hint") or (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id.endswith("_HINT") for t in node.targets)
        ):
            found += strings(node.value)
    return found


def test_no_hint_sends_users_to_ffmpeg() -> None:
    sources = [*(ROOT / "core").rglob("*.py"), *(ROOT / "plugins").glob("*/ap_*/**/*.py")]
    offenders = [
        f"{path.relative_to(ROOT)}: {text}"
        for path in sources
        for text in _hint_strings(ast.parse(path.read_text(encoding="utf-8")))
        if "ffmpeg" in text.lower()
    ]
    assert len(sources) > 50 and offenders == []
