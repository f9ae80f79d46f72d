"""The ap-sam-torch plugin: separator `sam-audio` on the pytorch backend. Discovery imports no model library."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ap_sam_torch.resolve import identity, list_models
from audio_playground.hookspecs import hookimpl
from audio_playground.prompted import sam_audio_spec
from audio_playground.specs import Separator, SeparatorSpec

BACKEND = "pytorch"
DISTRIBUTION = "ap-sam-torch"


def _load(options: Mapping[str, Any], device: str) -> Separator:
    from ap_sam_torch.model import load_separator

    return load_separator(options, device)


@hookimpl
def ap_separators() -> list[SeparatorSpec]:
    return [
        sam_audio_spec(
            BACKEND, load=_load, models=list_models, cache_identity=identity, plugin=DISTRIBUTION, runtime="PyTorch"
        )
    ]
