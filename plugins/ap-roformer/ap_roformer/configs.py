"""The YAML configs that come with RoFormer checkpoints, read safely into one typed record.

Music-Source-Separation-Training (ZFTurbo), UVR and python-audio-separator share one layout:

    audio:     chunk_size, sample_rate, num_channels, ...
    model:     the network's constructor arguments (dim, depth, stereo, num_stems, freqs_per_bands or
               num_bands, mask_estimator_depth, stft_*, ...)
    training:  instruments, target_instrument, ...
    inference: num_overlap, normalize, ...

The architecture is not written in the file (those tools take it on their command line): a `model` section
with `freqs_per_bands` is a BS-RoFormer, one with `num_bands` a Mel-Band RoFormer; a top-level `model_type`
(or `architecture`) naming either is honoured, and any other name is refused.

Nothing here imports torch: `ap models list` reads configs without loading a network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from audio_playground.errors import UsageError

Architecture = Literal["bs_roformer", "mel_band_roformer"]
ARCHITECTURES: dict[str, Architecture] = {
    "bs_roformer": "bs_roformer",
    "bsroformer": "bs_roformer",
    "bs-roformer": "bs_roformer",
    "mel_band_roformer": "mel_band_roformer",
    "melbandroformer": "mel_band_roformer",
    "mel-band-roformer": "mel_band_roformer",
}
TITLES = {"bs_roformer": "BS-RoFormer", "mel_band_roformer": "Mel-Band RoFormer"}
CONFIG_SUFFIXES = (".yaml", ".yml")

# Constructor arguments of the bs-roformer package's classes (0.4.x) that a config may set.
COMMON_KEYS = frozenset(
    {
        "dim",
        "depth",
        "stereo",
        "num_stems",
        "time_transformer_depth",
        "freq_transformer_depth",
        "dim_head",
        "heads",
        "attn_dropout",
        "ff_dropout",
        "flash_attn",
        "dim_freqs_in",
        "stft_n_fft",
        "stft_hop_length",
        "stft_win_length",
        "stft_normalized",
        "mask_estimator_depth",
        "multi_stft_resolution_loss_weight",
        "multi_stft_resolutions_window_sizes",
        "multi_stft_hop_size",
        "multi_stft_normalized",
    }
)
PACKAGE_KEYS: dict[Architecture, frozenset[str]] = {
    "bs_roformer": COMMON_KEYS | {"freqs_per_bands"},
    "mel_band_roformer": COMMON_KEYS
    | {"num_bands", "sample_rate", "linear_transformer_depth", "linear_flash_attn", "match_input_audio_length"},
}
TUPLE_KEYS = frozenset({"freqs_per_bands", "multi_stft_resolutions_window_sizes"})
"""The package's constructors check these are tuples (beartype); YAML gives lists."""

DROPPED = {
    "use_torch_checkpoint": "gradient checkpointing, a training-time memory saving",
    "sage_attention": "another attention kernel computing the same attention",
}
"""Options of Music-Source-Separation-Training's copies of the networks that do not change inference."""
ONLY = {
    "linear_transformer_depth": (0, "BS-RoFormer has no linear-attention layers in the bs-roformer package"),
    "skip_connection": (False, "the bs-roformer package has no skip connections between layers"),
    "mlp_expansion_factor": (4, "the bs-roformer package's mask estimators use an expansion factor of 4"),
}
"""Options of those copies the package supports at one value only: (value, why others are refused)."""


class ConfigFileError(UsageError):
    """A config that cannot be used: one line naming the file and what is wrong; exit 2."""


@dataclass(frozen=True)
class RoformerConfig:
    """What a checkpoint's YAML says: architecture, constructor arguments, audio and chunking, stems."""

    path: Path
    architecture: Architecture
    kwargs: Mapping[str, Any]
    """Arguments for the bs-roformer class, already mapped from the file's keys."""
    sample_rate: int
    chunk_size: int
    num_overlap: int
    instruments: tuple[str, ...]
    target: str | None
    normalize: bool = False
    dropped: tuple[str, ...] = field(default=())
    """Keys of the file that were read but do not reach the network (see DROPPED and ONLY)."""

    @property
    def channels(self) -> int:
        return 2 if self.kwargs.get("stereo", False) else 1

    @property
    def num_stems(self) -> int:
        return int(self.kwargs.get("num_stems", 1))

    @property
    def model_stems(self) -> tuple[str, ...]:
        """The stems the network outputs, in its order."""
        if self.target is not None:
            return (self.target,)
        return self.instruments

    @property
    def stems(self) -> tuple[str, ...]:
        """The stems written: the network's, plus the residual (mix minus target) when it has one target."""
        if len(self.model_stems) != 1:
            return self.model_stems
        target = self.model_stems[0]
        others = [name for name in self.instruments if name != target]
        return (target, others[0] if len(others) == 1 else f"no_{target}")

    @property
    def title(self) -> str:
        return TITLES[self.architecture]


def _loader() -> Any:
    """PyYAML's safe loader plus the one Python tag these configs use (`!!python/tuple`), built as a tuple."""
    import yaml

    class SafeTupleLoader(yaml.SafeLoader):
        pass

    def tuple_of(loader: yaml.SafeLoader, node: Any) -> tuple[Any, ...]:
        return tuple(loader.construct_sequence(node))

    SafeTupleLoader.add_constructor("tag:yaml.org,2002:python/tuple", tuple_of)
    return SafeTupleLoader


def read_yaml(path: Path) -> dict[str, Any]:
    """The file as a mapping, with a safe loader: any other Python tag is refused, never constructed."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"cannot read the config ({exc.__class__.__name__})", path=path) from exc
    try:
        data = yaml.load(text, Loader=_loader())
    except yaml.YAMLError as exc:
        cause = " ".join(str(exc).split())
        raise ConfigFileError(
            f"not a YAML config the safe loader accepts ({cause})", path=path, hint="fix the file"
        ) from exc
    if not isinstance(data, dict):
        raise ConfigFileError("not a RoFormer config (no mapping at the top)", path=path)
    return data


def _section(data: Mapping[str, Any], name: str, path: Path) -> dict[str, Any]:
    value = data.get(name) or {}
    if not isinstance(value, dict):
        raise ConfigFileError(f"its {name!r} section is not a mapping", path=path)
    return value


def architecture_of(data: Mapping[str, Any], path: Path) -> Architecture:
    """The network a config describes: its `model_type`, else what its model section's keys say."""
    named = data.get("model_type", data.get("architecture"))
    if named is not None:
        key = str(named).strip().lower().replace(" ", "_")
        if key not in ARCHITECTURES:
            raise ConfigFileError(
                f"unknown architecture {named!r}",
                path=path,
                hint="ap-roformer runs bs_roformer and mel_band_roformer configs",
            )
        return ARCHITECTURES[key]
    model = _section(data, "model", path)
    if "num_bands" in model:
        return "mel_band_roformer"
    if "freqs_per_bands" in model:
        return "bs_roformer"
    raise ConfigFileError(
        "unknown architecture: its model section has neither freqs_per_bands (BS-RoFormer) nor num_bands "
        "(Mel-Band RoFormer)",
        path=path,
        hint="pass the YAML that came with this checkpoint",
    )


def map_model_kwargs(architecture: Architecture, model: Mapping[str, Any], path: Path) -> tuple[dict, list[str]]:
    """The bs-roformer constructor arguments for a config's model section, and the keys left out.

    Mapped: lists become tuples where the package wants tuples; `linear_transformer_depth`, `skip_connection`
    and `mlp_expansion_factor` are accepted at the package's fixed value and refused otherwise; training-only
    options (`use_torch_checkpoint`, `sage_attention`) are left out. Any other unknown key is refused.
    """
    allowed = PACKAGE_KEYS[architecture]
    kwargs: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in model.items():
        if key in ONLY and key not in allowed:
            fixed, why = ONLY[key]
            if value != fixed and not (value is None and fixed in (0, False)):
                raise ConfigFileError(f"model.{key}: {value!r} is not supported ({why})", path=path)
            dropped.append(key)
        elif key in DROPPED:
            if value:
                dropped.append(key)
        elif key in allowed:
            kwargs[key] = tuple(value) if key in TUPLE_KEYS and isinstance(value, list) else value
        else:
            raise ConfigFileError(
                f"model.{key} is not an option of the bs-roformer package's {TITLES[architecture]}",
                path=path,
                hint="this config is for another network or a variant ap-roformer cannot run",
            )
    for key in ("dim", "depth"):
        if key not in kwargs:
            raise ConfigFileError(f"model.{key} is missing", path=path, hint="pass the config of this checkpoint")
    return kwargs, dropped


def _int(section: Mapping[str, Any], key: str, default: int | None, path: Path, where: str) -> int:
    value = section.get(key, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if value is None or isinstance(value, bool) or number < 1:
        raise ConfigFileError(f"{where}.{key} must be a positive integer, not {value!r}", path=path)
    return number


def parse_config(data: Mapping[str, Any], path: Path) -> RoformerConfig:
    """A RoformerConfig from a config's mapping (see the module docstring for the layout)."""
    architecture = architecture_of(data, path)
    model = _section(data, "model", path)
    audio = _section(data, "audio", path)
    training = _section(data, "training", path)
    inference = _section(data, "inference", path)
    kwargs, dropped = map_model_kwargs(architecture, model, path)
    sample_rate = _int(audio, "sample_rate", model.get("sample_rate", 44100), path, "audio")
    if architecture == "mel_band_roformer":
        kwargs.setdefault("sample_rate", sample_rate)
        # those tools' default (no linear attention); the package's own default is 1
        kwargs.setdefault("linear_transformer_depth", 0)
    chunk_size = _int(audio, "chunk_size", None, path, "audio")
    num_overlap = _int(inference, "num_overlap", 4, path, "inference")
    raw = training.get("instruments") or []
    if not isinstance(raw, list | tuple) or not all(isinstance(name, str) and name for name in raw):
        raise ConfigFileError("training.instruments must be a list of stem names", path=path)
    instruments = tuple(raw)
    target = training.get("target_instrument")
    if target is not None:
        target = str(target)
    stems = 1 if target is not None else len(instruments)
    num_stems = int(kwargs.get("num_stems", 1))
    if not instruments:
        raise ConfigFileError("training.instruments is missing: the config names no stems", path=path)
    if target is not None and target not in instruments:
        raise ConfigFileError(f"training.target_instrument {target!r} is not in training.instruments", path=path)
    if len(set(instruments)) != len(instruments):
        raise ConfigFileError("training.instruments names a stem twice", path=path)
    if stems != num_stems:
        shown = target if target is not None else ", ".join(instruments)
        raise ConfigFileError(
            f"model.num_stems is {num_stems} but the config names {stems} output stem(s) ({shown})",
            path=path,
            hint="num_stems must match training.target_instrument (1) or training.instruments",
        )
    return RoformerConfig(
        path=path,
        architecture=architecture,
        kwargs=kwargs,
        sample_rate=sample_rate,
        chunk_size=chunk_size,
        num_overlap=num_overlap,
        instruments=instruments,
        target=target,
        normalize=bool(inference.get("normalize", False)),
        dropped=tuple(dropped),
    )


def load_config(path: str | Path) -> RoformerConfig:
    """Read and check the YAML config at `path`."""
    path = Path(path)
    return parse_config(read_yaml(path), path)
