"""The ap-sam-torch plugin: separator `sam-audio` on the pytorch backend. Discovery imports no model library."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audio_playground.hookspecs import hookimpl
from audio_playground.prompted import sam_audio_options
from audio_playground.specs import ModelInfo, Separator, SeparatorSpec

NAME = "sam-audio"
BACKEND = "pytorch"
DISTRIBUTION = "ap-sam-torch"


def _load(options: Mapping[str, Any], device: str) -> Separator:
    from ap_sam_torch.model import load_separator

    return load_separator(options, device)


def _models(options: Mapping[str, Any]) -> list[ModelInfo]:
    from ap_sam_torch.resolve import list_models

    return list_models(options)


def _identity(options: Mapping[str, Any]) -> str | None:
    from ap_sam_torch.resolve import identity

    return identity(options)


@hookimpl
def ap_separators() -> list[SeparatorSpec]:
    return [
        SeparatorSpec(
            name=NAME,
            backend=BACKEND,
            load=_load,
            help="SAM-Audio: extract any sound described in words (--prompts 'dog barking'), on PyTorch.",
            prompted=True,
            suffix="sam",
            options=sam_audio_options(),
            models=_models,
            plugin=DISTRIBUTION,
            cache_identity=_identity,
            defaults={"suffix": "sam"},
        )
    ]
