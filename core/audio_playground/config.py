"""Configuration: the one home of every default (pydantic; pydantic-settings reads the layers).

Precedence, highest first: command line > environment (AUDIO_PLAYGROUND_<FIELD>) > ./.env > --config FILE
(TOML) > the defaults below. pydantic-settings is imported only when one of those layers exists (a config file,
a ./.env file, an AUDIO_PLAYGROUND_ variable): otherwise the defaults and the command line are validated by
the plain model, which spares every such run pydantic-settings' import.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from audio_playground.errors import ConfigError

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

ENV_PREFIX = "AUDIO_PLAYGROUND_"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["console", "json"]
CrossfadeType = Literal["cosine", "linear"]
BitDepth = Literal["16", "24", "32f"]
OutputFormat = Literal["wav", "flac", "mp3", "opus", "aac", "alac"]
ClipMode = Literal["rescale", "rescale-stem", "clamp", "none"]


def _default_cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("audio-playground", appauthor=False))


class AudioPlaygroundConfig(BaseModel):
    """Every setting of the program, with its default."""

    model_config = ConfigDict(extra="ignore", validate_default=True)

    # global
    log_level: LogLevel = Field("INFO", description="Log threshold; DEBUG also shows tracebacks.")
    log_format: LogFormat = Field("console", description="console for people, json lines for batch runs.")
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N or mps.")
    temp_dir: Path | None = Field(None, description="Where temporary files go (default: the system's).")
    cache_dir: Path = Field(default_factory=_default_cache_dir, description="The step-result cache.")
    quiet: bool = Field(False, description="No progress bars, warnings and errors only.")
    cache: bool = Field(True, description="Use the step-result cache when a cache plugin is installed.")
    progress: bool = Field(True, description="Show progress bars on a terminal.")

    # segment / merge
    window_size: float = Field(10.0, gt=0, description="Segment length in seconds.")
    overlap: float = Field(0.0, ge=0, description="Overlap between segments in seconds.")
    crossfade_type: CrossfadeType = Field("cosine", description="Crossfade where segments or chunks overlap.")

    # outputs
    output_format: OutputFormat = Field("wav", description="Format of written stems.")
    bitrate: int | None = Field(
        None, gt=0, description="Bits/s of lossy stems (mp3, opus, aac); default: the format's."
    )
    bit_depth: BitDepth | None = Field(None, description="Output sample format; default: the input's PCM, else 16.")
    clip: ClipMode = Field("rescale", description="What to do with samples beyond full scale.")
    jobs: int = Field(
        1, ge=1, description="Workers of a batch (-j): local worker processes; for ray, unset means the cluster's."
    )
    executor: str = Field("local", min_length=1, description="Where a batch runs: local, or ray (ap-ray).")

    # separation
    backend: Literal["auto", "pytorch", "mlx", "numpy"] = Field("auto", description="Compute backend.")
    roformer_dir: Path | None = Field(
        None, description="Folder of RoFormer checkpoints (.ckpt + .yaml pairs) that `ap models list` shows."
    )


ENV_FILE = ".env"


@cache
def settings_class(toml_file: Path | None = None) -> type[AudioPlaygroundConfig]:
    """The config read through pydantic-settings: environment, ./.env and (when given) a TOML file."""
    from pydantic_settings import BaseSettings, SettingsConfigDict, TomlConfigSettingsSource

    class AudioPlaygroundSettings(BaseSettings, AudioPlaygroundConfig):
        model_config = SettingsConfigDict(  # ty: ignore[incompatible-mutable-override]  # pydantic merges them
            env_prefix=ENV_PREFIX,
            env_file=ENV_FILE,
            env_file_encoding="utf-8",
            extra="ignore",
            validate_default=True,
        )

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
            if toml_file is not None:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
            return tuple(sources)

    return AudioPlaygroundSettings


def _has_layers() -> bool:
    """Whether ./.env or an environment variable may set a field (pydantic-settings matches names in any case)."""
    fields = {ENV_PREFIX + name.upper() for name in AudioPlaygroundConfig.model_fields}
    return any(name.upper() in fields for name in os.environ) or Path(ENV_FILE).is_file()


def load_config(config_file: str | Path | None = None, **overrides: Any) -> AudioPlaygroundConfig:
    """Build the config from every layer; `overrides` are command-line values (None means unset)."""
    values = {k: v for k, v in overrides.items() if v is not None}
    cls = AudioPlaygroundConfig
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError("config file not found", path=path, hint="pass an existing TOML file to --config")
        cls = settings_class(path)
    elif _has_layers():
        cls = settings_class()
    try:
        return cls(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        raise ConfigError(
            f"invalid setting {where}: {first['msg']}",
            path=config_file,
            hint=f"fix it in the command line, {ENV_PREFIX}{where.upper()} or the config file",
        ) from exc
    except Exception as exc:  # tomllib errors
        if config_file is not None and type(exc).__name__ == "TOMLDecodeError":
            raise ConfigError(f"not valid TOML ({exc})", path=config_file, hint="fix the file") from exc
        raise
