"""The ap-roformer plugin: registers the `roformer` separator (PyTorch) with audio-playground.

Discovery imports only this module and the light options module; torch and bs-roformer load when a
separation starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ap_roformer.options import OPTIONS, cache_identity, list_models
from audio_playground.hookspecs import hookimpl
from audio_playground.specs import SeparatorSpec

if TYPE_CHECKING:
    from ap_roformer.separator import RoformerSeparator

HELP = (
    "BS-RoFormer and Mel-Band RoFormer checkpoints (Music-Source-Separation-Training, UVR, "
    "python-audio-separator): --model FILE.ckpt --config FILE.yaml, or a folder holding the pair. "
    "Stems come from the config."
)


def load(options: Mapping[str, Any], device: str) -> RoformerSeparator:
    """SeparatorSpec.load: import torch and bs-roformer now, load the checkpoint and build the separator."""
    from ap_roformer.separator import load_separator

    return load_separator(options, device)


@hookimpl
def ap_separators() -> list[SeparatorSpec]:
    return [
        SeparatorSpec(
            name="roformer",
            backend="pytorch",
            load=load,
            help=HELP,
            suffix="roformer",
            options=OPTIONS,
            models=list_models,
            plugin="ap-roformer",
            cache_identity=cache_identity,
            models_dir="roformer_dir",
        )
    ]
