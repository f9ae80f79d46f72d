"""The step every item of a batch goes through, as plain data that travels to workers, and the worker that runs it.

A SeparateTask is picklable (worker processes, Ray actors); `SeparateWorker(task)` is built once per worker and
loads the model on the first input the cache does not serve, so every worker loads it at most once and a
rerun served by the cache loads nothing. Each call separates one WorkItem through `api.separate_file`, the same
function a single-input run calls: the stems are byte-identical whichever executor runs them.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from audio_playground.errors import UsageError
from audio_playground.specs import WorkItem

GPU_PREFIXES = ("cuda", "mps")


def json_safe(value: Any) -> Any:
    """Options as JSON: paths as strings, tuples as lists, other objects by str()."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    return str(value)


def check_inside(template: str) -> None:
    """Workers write only under the output folder: refuse templates that are absolute or climb out with '..'."""
    parts = PurePosixPath(template.replace("\\", "/")).parts
    if template.startswith(("/", "\\")) or ".." in parts:
        raise UsageError(
            f"--filename {template!r} leaves the output folder", hint="use a relative template without '..'"
        )


@dataclass(frozen=True)
class SeparateTask:
    """`separate` with one separator and one set of options, for every item of a batch."""

    separator: str
    output_dir: str
    """Absolute output folder; every file a worker writes lies under it."""
    filename: str
    options: Mapping[str, Any] = field(default_factory=dict)
    """The separator's options in force (its OptionSpec defaults filled in)."""
    ignored: tuple[str, ...] = ()
    """Option names that cannot change the output (OptionSpec.cache_key=False): not part of the fingerprint."""
    backend: str = "auto"
    device: str = "auto"
    suffix: str | None = None
    output_format: str = "wav"
    bit_depth: str | None = None
    bitrate: int | None = None
    video: tuple[str, ...] = ()
    """--video mixes to mux with each video input's picture (see audio/video.py)."""
    sample_rate: int | None = None
    clip: str = "rescale"
    start_time: float | None = None
    end_time: float | None = None
    cache: bool = True
    config: Mapping[str, Any] = field(default_factory=dict)
    """The driver's settings (JSON form), so that a worker opens the same cache with the same rules."""
    step: str = "separate"

    @property
    def uses_gpu(self) -> bool:
        return self.device.startswith(GPU_PREFIXES)

    def output_options(self) -> dict[str, Any]:
        """What decides the written files besides the separator: the write options, and --video when set."""
        return {
            **self.write_options(),
            **({"video": list(self.video)} if self.video else {}),  # added later: keyed only when set
        }

    def write_options(self) -> dict[str, Any]:
        """The keywords of api.separate_file that name and shape the written stems."""
        return {
            "filename": self.filename,
            "suffix": self.suffix,
            "output_format": self.output_format,
            "bit_depth": self.bit_depth,
            "bitrate": self.bitrate,
            "sample_rate": self.sample_rate,
            "clip": self.clip,
            "start_time": self.start_time,
            "end_time": self.end_time,
        }

    def fingerprint(self) -> str:
        """What decides the outputs (separator, options that matter, output options): equal means reusable."""
        options = {k: v for k, v in json_safe(self.options).items() if k not in self.ignored}
        material = {"separator": self.separator, "options": options, "output": json_safe(self.output_options())}
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]

    def model_name(self) -> str | None:
        model = self.options.get("model")
        return None if model is None else str(model)

    def worker(self, *, label: str | None = None, pm: Any = None, warn: Any = None) -> SeparateWorker:
        """The worker that runs this task's items (built once per worker process or actor)."""
        return SeparateWorker(self, label=label, pm=pm, warn=warn)


def local_label() -> str:
    return f"local:{os.getpid()}"


class SeparateWorker:
    """Runs items of one SeparateTask; built once per worker process (or actor), loading the model lazily.

    With `pm` (the driver's plugin manager, in the driver's process) the step hooks fire here as the step
    runs, chunk progress included; without it the worker builds its own manager and the driver reports each
    finished item through the hooks instead.
    """

    def __init__(self, task: SeparateTask, *, label: str | None = None, pm: Any = None, warn: Any = None) -> None:
        from audio_playground import caching
        from audio_playground.config import AudioPlaygroundConfig
        from audio_playground.plugins import get_plugin_manager

        self.task = task
        self.label = label or local_label()
        self.hooked = pm is not None
        self.pm = pm or get_plugin_manager()
        self.warn = warn or _log_warning
        self.fingerprint = task.fingerprint()
        config = AudioPlaygroundConfig(**task.config) if task.config else AudioPlaygroundConfig()
        self.load()
        self.cache = caching.open_cache(self.pm, config, self.warn) if task.cache else None

    def load(self) -> None:
        """Choose the separator (lazily: the model loads on the first input the cache does not serve)."""
        from audio_playground import api

        task = self.task
        self.loaded = api.load(
            task.separator,
            backend=task.backend,
            options=task.options,
            device=task.device,
            pm=self.pm,
            warn=self.warn,
            lazy=True,
        )

    def backend(self) -> str | None:
        return self.loaded.spec.backend

    def model_loaded(self) -> bool:
        return self.loaded.loaded

    def separate(self, src: Path, item: WorkItem, on_chunk: Any) -> Any:
        """One input's separation: the same call a single-input run makes."""
        from audio_playground import api

        task = self.task
        return api.separate_file(
            self.loaded,
            src,
            task.output_dir,
            track=item.track,
            video=task.video,
            on_chunk=on_chunk,
            **task.write_options(),
            cache=self.cache,
        )

    def base_record(self, item: WorkItem) -> dict[str, Any]:
        return {
            "input": item.input,
            "track": item.track,
            "status": "failed",
            "outputs": {},
            "seconds": 0.0,
            "audio_seconds": 0.0,
            "worker": self.label,
            "error": None,
            "step": self.task.step,
            "separator": self.task.separator,
            "model": self.task.model_name(),
            "backend": self.backend(),
            "options": json_safe(self.task.options),
            "output": json_safe(self.task.output_options()),
            "key": self.fingerprint,
            "model_loaded": self.model_loaded(),
            "finished_at": None,
        }

    def __call__(self, item: WorkItem) -> dict[str, Any]:
        """Separate one item; a failure becomes a record with its one-line cause, never an exception."""
        from audio_playground.errors import APError
        from audio_playground.executors.manifest import now
        from audio_playground.steps import step

        task = self.task
        started = time.perf_counter()
        record = self.base_record(item)
        src = Path(item.input)
        try:
            if not src.is_file():
                raise _input_error(src)
            with step(self.pm, task.step, {"src": src, "separator": task.separator}) as run:
                run.result = self.separate(src, item, run.chunk(src) if self.hooked else None)
                run.cached = run.result.cached
            record["status"] = "cached" if run.result.cached else "done"
            record["outputs"] = {stem: str(path) for stem, path in run.result.stems.items()}
            record["audio_seconds"] = _audio_seconds(src, task.start_time, task.end_time)
            record["input_stat"] = input_stat(src)
        except APError as exc:
            record["error"] = _one_line(str(exc))
        except Exception as exc:  # any library's failure on one input is that input's failure
            record["error"] = _one_line(f"{src}: {type(exc).__name__}: {exc}")
        record["seconds"] = round(time.perf_counter() - started, 4)
        record["backend"] = self.backend()
        record["model_loaded"] = self.model_loaded()
        record["finished_at"] = now()
        return record


def input_stat(src: str | Path) -> list[int] | None:
    """[size, mtime_ns] of an input: a rerun reuses a finished record only while these match."""
    try:
        stat = os.stat(src)
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns]


def _input_error(src: Path) -> Exception:
    from audio_playground.errors import InputError

    if src.is_dir():
        return InputError("is a folder, not a file", path=src, hint="list files, or pass the folder itself")
    if src.exists():
        return InputError("not a regular file", path=src, hint="list audio or video files")
    return InputError("no such file", path=src, hint="fix or drop this line of the manifest")


def _audio_seconds(src: Path, start: float | None, end: float | None) -> float:
    """Seconds of audio the item covered (its window with --start-time/--end-time)."""
    from audio_playground.audio import probe

    try:
        duration = probe(src).duration
    except Exception:  # pragma: no cover - the input just decoded; a probe failure only loses the statistic
        return 0.0
    stop = duration if end is None else min(end, duration)
    return round(max(0.0, stop - (start or 0.0)), 4)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _log_warning(message: str) -> None:
    from audio_playground.logging import get_logger

    get_logger("ap.worker").warning(message)
