"""The ap-demucs plugin: registers the `demucs` separator on PyTorch and on ONNX Runtime (`onnx`).

Discovery imports only this module and the light option/catalogue modules; torch and demucs load when a
separation starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ap_demucs.batching import BATCH_SIZE, RUNTIME, batch_size
from ap_demucs.models import cache_identity, list_models
from ap_demucs.options import DEFAULT_STEMS, OPTIONS
from audio_playground.errors import UsageError
from audio_playground.hookspecs import hookimpl
from audio_playground.specs import SeparatorSpec

if TYPE_CHECKING:
    from ap_demucs.onnx_separator import OnnxDemucsSeparator
    from ap_demucs.separator import DemucsSeparator

HELP = (
    "Demucs (Meta): drums, bass, other and vocals (htdemucs_6s adds guitar and piano). "
    "Weights load from the torch hub or Hugging Face caches, or from --repo DIR offline."
)


def load(options: Mapping[str, Any], device: str) -> DemucsSeparator:
    """SeparatorSpec.load: import torch and demucs now, find the weights and build the separator."""
    from ap_demucs.separator import load_separator

    if batch_size(options) > 1:
        raise UsageError("--batch-size runs on the onnx backend only", hint="add --backend onnx, or drop --batch-size")
    if (options.get("runtime") or "auto") != "auto":
        raise UsageError("--runtime chooses the onnx backend's runtime", hint="add --backend onnx, or drop --runtime")
    return load_separator(options, device)


def load_onnx(options: Mapping[str, Any], device: str) -> OnnxDemucsSeparator:
    """SeparatorSpec.load on onnx: the exported networks (exported with torch on first use), no torch after."""
    from ap_demucs.onnx_separator import load_onnx_separator

    return load_onnx_separator(options, device)


@hookimpl
def ap_separators() -> list[SeparatorSpec]:
    return [
        SeparatorSpec(
            name="demucs",
            backend=backend,
            load=loader,
            help=HELP,
            stems=DEFAULT_STEMS,
            suffix="demucs",
            options=(*OPTIONS, BATCH_SIZE, RUNTIME),
            models=list_models,
            plugin="ap-demucs",
            cache_identity=cache_identity,
        )
        for backend, loader in (("pytorch", load), ("onnx", load_onnx))
    ]
