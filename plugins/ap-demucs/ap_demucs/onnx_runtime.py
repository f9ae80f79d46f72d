"""Demucs on ONNX Runtime: exported networks, numpy around them, the engine's chunk plan. Never imports torch
once the networks are exported.

The exported files live in the user cache, one folder per weights digest (`onnx/<sha256 of the weights>`):
one `<index>.onnx` per network of the model or bag and a `manifest.json` naming each file's sha256 and the
network's description. A file whose bytes no longer match the manifest is exported again (with torch).
The chunk plan, shift trick and bag weighting are those of `ap_demucs.separator.DemucsSeparator`, so a chunk
separates the same on both paths (to float rounding).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ap_demucs import spectral
from ap_demucs.models import LocalWeights, weights_digest
from audio_playground.errors import ModelError, UsageError

EPS = 1e-8
FORMAT = 2
"""Version of the exported files' layout; a manifest of another version is exported again."""
GPU_PROVIDERS = {
    "cuda": ("CUDAExecutionProvider", "ROCMExecutionProvider"),
}
"""ONNX Runtime's GPU execution providers, by the --device kind they serve."""


def export_dir(digest: str) -> Path:
    """Where the networks of the weights with this sha256 are kept: the user cache (XDG_CACHE_HOME on Linux)."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("audio-playground", appauthor=False)) / "onnx" / digest


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            sha.update(block)
    return sha.hexdigest()


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def _intact(folder: Path, graph: Mapping[str, Any]) -> bool:
    """The graph file is there and its bytes hash to what the manifest says (else it is exported again)."""
    path = folder / graph["file"]
    return path.is_file() and _sha256(path) == graph["sha256"]


class Exports:
    """The exported graphs of one set of weights: `<network>-<frames>.onnx` files and their manifest."""

    def __init__(self, weights: LocalWeights) -> None:
        self.weights = weights
        self.folder = export_dir(weights_digest(weights))
        manifest = _read_manifest(self.folder)
        try:
            complete = manifest is not None and all(
                _intact(self.folder, n["graphs"][n["default"]]) for n in manifest["networks"]
            )
        except (KeyError, TypeError):  # a manifest edited or cut short: export again
            complete = False
        if manifest is None or not complete:
            manifest = self._export_all()
        self.manifest = manifest

    def _export_all(self) -> dict[str, Any]:
        from ap_demucs.onnx_export import export_network, members

        networks = []
        for index in range(len(members(self.weights))):
            meta, frames, blob = export_network(self.weights, index)
            networks.append(
                {"meta": meta, "default": str(frames), "graphs": {str(frames): self._write(index, frames, blob)}}
            )
        bag = self.weights.bag
        manifest = {
            "format": FORMAT,
            "model": self.weights.name,
            "networks": networks,
            "bag_weights": None if bag is None else bag.weights,
        }
        self._save(manifest)
        return manifest

    def _write(self, index: int, frames: int, blob: bytes) -> dict[str, str]:
        from ap_demucs.onnx_export import write_atomic

        name = f"{index}-{frames}.onnx"
        write_atomic(self.folder / name, blob)
        return {"file": name, "sha256": hashlib.sha256(blob).hexdigest()}

    def _save(self, manifest: Mapping[str, Any]) -> None:
        from ap_demucs.onnx_export import write_atomic

        write_atomic(self.folder / "manifest.json", json.dumps(manifest, indent=1).encode())

    def graph(self, index: int, frames: int) -> Path:
        """The file of network `index` for `frames`-long inputs, exported (torch) when missing or corrupt."""
        graphs = self.manifest["networks"][index]["graphs"]
        entry = graphs.get(str(frames))
        if entry is None or not _intact(self.folder, entry):
            from ap_demucs.onnx_export import export_network

            _, _, blob = export_network(self.weights, index, frames)
            graphs[str(frames)] = entry = self._write(index, frames, blob)
            self._save(self.manifest)
        return self.folder / entry["file"]


# --------------------------------------------------------------------------- sessions


def gpu_visible() -> bool:
    """True when this machine has a GPU PyTorch would use (an NVIDIA driver, Apple Silicon), checked cheaply."""
    import platform

    if sys.platform == "darwin" and platform.machine() == "arm64":
        return True
    return Path("/proc/driver/nvidia/version").exists()


def providers_for(device: str, available: Sequence[str]) -> list[Any]:
    """ONNX Runtime execution providers for --device: a GPU provider where installed, else the CPU."""
    name = (device or "auto").strip().lower()
    kind, _, index = name.partition(":")
    if kind == "auto":
        for provider in GPU_PROVIDERS["cuda"]:
            if provider in available:
                return [provider, "CPUExecutionProvider"]
        if gpu_visible():
            raise ModelError(
                "onnxruntime here has no GPU execution provider while this machine has a GPU: PyTorch is faster",
                hint="pip install onnxruntime-gpu, or pass --device cpu to run ONNX Runtime on the CPU",
            )
        return ["CPUExecutionProvider"]
    if kind == "cpu":
        return ["CPUExecutionProvider"]
    if kind == "cuda":
        for provider in GPU_PROVIDERS["cuda"]:
            if provider in available:
                return [(provider, {"device_id": int(index or 0)}), "CPUExecutionProvider"]
        raise UsageError(
            f"device {device} is not available to onnxruntime (providers: {', '.join(available)})",
            hint="pip install onnxruntime-gpu, or use --device cpu or --backend pytorch",
        )
    raise UsageError(f"device {device} is not supported on the onnx backend", hint="use --device cpu or cuda")


def session_options(threads: int | None) -> Any:
    """Session options with a bounded memory peak: no CPU arena, no memory pattern (the defaults cost ~5 GB)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_cpu_mem_arena = False
    options.enable_mem_pattern = False
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if threads is not None:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3  # errors only: its warnings about unused initializers are noise
    return options


class OpenVinoSession:
    """An OpenVINO compiled model of an exported graph, called like an ONNX Runtime session."""

    def __init__(self, path: Path, threads: int | None) -> None:
        import openvino

        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
        if threads is not None:
            config["INFERENCE_NUM_THREADS"] = threads
        core = openvino.Core()
        # OpenVINO keeps the compiled graph beside the export: a later run loads it instead of compiling again.
        core.set_property({"CACHE_DIR": str(path.parent / "openvino-cache")})
        self.compiled = core.compile_model(str(path), "CPU", config)

    def run(self, names: None, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        result = self.compiled(dict(feeds))
        return [result[output] for output in self.compiled.outputs]


RUNTIMES = ("auto", "onnxruntime", "openvino")


def choose_runtime(runtime: str, providers: Sequence[Any]) -> str:
    """--runtime: auto takes OpenVINO for the CPU when it is installed (measured faster here), else ONNX Runtime."""
    from importlib.util import find_spec

    cpu_only = list(providers) == ["CPUExecutionProvider"]
    if runtime == "openvino":
        if not cpu_only:
            raise UsageError("--runtime openvino runs on the CPU only here", hint="pass --device cpu")
        if find_spec("openvino") is None:
            raise UsageError("--runtime openvino: openvino is not installed", hint="pip install openvino")
        return "openvino"
    if runtime == "auto" and cpu_only and find_spec("openvino") is not None:
        return "openvino"
    return "onnxruntime"


class Network:
    """One network of the model: its description and a session (ONNX Runtime or OpenVINO) per input length."""

    def __init__(
        self, exports: Exports, index: int, providers: list[Any], threads: int | None, runtime: str = "onnxruntime"
    ) -> None:
        self.exports = exports
        self.index = index
        self.meta: dict[str, Any] = exports.manifest["networks"][index]["meta"]
        self.providers = providers
        self.threads = threads
        self.runtime = runtime
        self.sessions: dict[int, Any] = {}
        self.session(int(exports.manifest["networks"][index]["default"]))

    def session(self, frames: int) -> Any:
        """The session for `frames`-long inputs (a graph holds one length; the last one or two are kept)."""
        if frames not in self.sessions:
            path = self.exports.graph(self.index, frames)
            if len(self.sessions) >= 2:
                self.sessions.pop(next(iter(self.sessions)))
            if self.runtime == "openvino":
                self.sessions[frames] = OpenVinoSession(path, self.threads)
            else:
                import onnxruntime as ort

                options = session_options(self.threads)
                self.sessions[frames] = ort.InferenceSession(str(path), options, providers=self.providers)
        return self.sessions[frames]

    @property
    def is_ht(self) -> bool:
        return self.meta["kind"] == "ht"

    @property
    def segment(self) -> Fraction:
        return Fraction(*self.meta["segment"])

    @property
    def training_frames(self) -> int:
        return int(self.segment * self.meta["samplerate"])

    def run(self, mix: np.ndarray) -> np.ndarray:
        """(B, C, n) float32 at the network's input length -> (B, sources, C, n) float64."""
        meta = self.meta
        n = mix.shape[-1]
        if meta["kind"] == "time":
            return self._run_time(mix)
        padded = mix
        if self.is_ht and meta["use_train_segment"] and n < self.training_frames:
            padded = np.pad(mix, ((0, 0), (0, 0), (0, self.training_frames - n)))  # as HTDemucs.forward pads
        z = spectral.spec(padded, meta)
        session = self.session(padded.shape[-1])
        spec, wave = session.run(None, {"mix": padded, "mag": spectral.magnitude(z, meta)})
        out = wave[..., :n].astype(np.float64)
        for k in range(spec.shape[1]):  # one source at a time: the iSTFT's temporaries stay a quarter as large
            out[:, k] += spectral.ispec(spectral.mask(z, spec[:, k : k + 1], meta), padded.shape[-1], meta)[
                :, 0, ..., :n
            ]
        return out

    def _run_time(self, mix: np.ndarray) -> np.ndarray:
        meta = self.meta
        n = mix.shape[-1]
        x = mix.astype(np.float64)
        if meta["normalize"]:
            mono = x.mean(axis=1, keepdims=True)
            mean = mono.mean(axis=-1, keepdims=True)
            std = mono.std(axis=-1, ddof=1, keepdims=True)
            x = (x - mean) / (1e-5 + std)
        else:
            mean, std = 0.0, 1.0
        delta = spectral.time_valid_length(n, meta) - n
        x = np.pad(x, ((0, 0), (0, 0), (delta // 2, delta - delta // 2)))
        (raw,) = self.session(x.shape[-1]).run(None, {"mix": x.astype(np.float32)})
        out = spectral.center_trim(raw.astype(np.float64) * std + mean, n)
        return out.reshape(out.shape[0], len(meta["sources"]), meta["audio_channels"], n)


def open_networks(
    weights: LocalWeights, device: str, threads: int | None, runtime: str = "auto"
) -> tuple[list[Network], Exports]:
    """A Network per member of the model, its graphs exported first when this machine has none."""
    from importlib.util import find_spec

    kind = (device or "auto").strip().lower()
    cpu = kind == "cpu" or (kind == "auto" and not gpu_visible())
    if cpu and runtime != "onnxruntime" and find_spec("openvino") is not None:
        providers: list[Any] = ["CPUExecutionProvider"]  # OpenVINO on the CPU: onnxruntime is not even imported
    else:
        import onnxruntime as ort

        providers = providers_for(device, ort.get_available_providers())
    chosen = choose_runtime(runtime, providers)
    exports = Exports(weights)
    count = len(exports.manifest["networks"])
    return [Network(exports, i, providers, threads, chosen) for i in range(count)], exports
