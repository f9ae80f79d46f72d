"""Export each network of a Demucs model (or bag) to ONNX, with the STFT and iSTFT left outside the graph.

This module imports torch and demucs: it runs once per set of weights, and its files are reused by
`ap_demucs.onnx_runtime`, which never imports torch. ONNX cannot hold demucs's complex STFT, the complex
padding of its iSTFT nor a data-dependent assert in its reflect padding, so the graph starts at the
spectrogram (real and imaginary parts as channels, demucs's "cac") and ends before the masking; numpy does
the rest (`ap_demucs.spectral`). The hybrid models' own `forward` is traced as it is, with its four
spectral helpers swapped for pass-throughs on the instance during the export; the time-domain Demucs (v2)
is traced from its layers, since its `forward` compares a traced length with a tensor.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from collections.abc import Generator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

from audio_playground.errors import ModelError

OPSET = 17


def member_meta(model: Any) -> dict[str, Any]:
    """What the numpy side needs to run one network: its kind, shapes and spectral settings (JSON-ready)."""
    from demucs.demucs import Demucs
    from demucs.hdemucs import HDemucs
    from demucs.htdemucs import HTDemucs

    segment = Fraction(model.segment).limit_denominator(1000)
    meta: dict[str, Any] = {
        "class": type(model).__name__,
        "sources": list(model.sources),
        "audio_channels": int(model.audio_channels),
        "samplerate": int(model.samplerate),
        "segment": [segment.numerator, segment.denominator],
    }
    if isinstance(model, HTDemucs | HDemucs):
        meta.update(
            kind="ht" if isinstance(model, HTDemucs) else "hybrid",
            nfft=int(model.nfft),
            hop_length=int(model.hop_length),
            cac=bool(model.cac),
            hybrid=bool(getattr(model, "hybrid", True)),
            hybrid_old=bool(getattr(model, "hybrid_old", False)),
            use_train_segment=bool(getattr(model, "use_train_segment", False)),
        )
        if not model.cac and model.wiener_iters >= 0:
            raise ModelError(
                f"a {type(model).__name__} with Wiener filtering ({model.wiener_iters} iterations, no cac) "
                "has no ONNX export here",
                hint="use --backend pytorch",
            )
        meta["wiener_iters"] = int(model.wiener_iters)
    elif isinstance(model, Demucs):
        meta.update(
            kind="time",
            resample=bool(model.resample),
            depth=int(model.depth),
            kernel_size=int(model.kernel_size),
            stride=int(model.stride),
            normalize=bool(model.normalize),
        )
    else:
        raise ModelError(f"no ONNX export for a {type(model).__name__} model", hint="use --backend pytorch")
    return meta


class _Spectral:
    """HTDemucs/HDemucs from spectrogram to estimate: (mix, mag) -> (spec, wave), complex parts outside."""

    def __new__(cls, model: Any) -> Any:
        import torch

        class Wrapper(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, mix: Any, mag: Any) -> Any:
                inner = self.inner
                box: list[Any] = []

                def ispec(z: Any, length: Any = None, scale: int = 0) -> Any:
                    box.append(z)
                    return torch.zeros(z.shape[0], z.shape[1], inner.audio_channels, length)

                inner._spec = lambda x: mag
                inner._magnitude = lambda z: z
                inner._mask = lambda z, m: m
                inner._ispec = ispec
                try:
                    wave = inner(mix)
                finally:
                    for name in ("_spec", "_magnitude", "_mask", "_ispec"):
                        delattr(inner, name)
                return box[0], wave

        return Wrapper(model)


class _TimeDomain:
    """Demucs v2 from a normalised, padded input to its raw (B, sources * channels, n) output."""

    def __new__(cls, model: Any) -> Any:
        import julius
        import torch
        from demucs.utils import center_trim

        class Wrapper(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, x: Any) -> Any:
                inner = self.inner
                if inner.resample:
                    x = julius.resample_frac(x, 1, 2)
                saved = []
                for encode in inner.encoder:
                    x = encode(x)
                    saved.append(x)
                if inner.lstm:
                    x = inner.lstm(x)
                for decode in inner.decoder:
                    x = decode(x + center_trim(saved.pop(-1), x))
                if inner.resample:
                    x = julius.resample_frac(x, 2, 1)
                return x

        return Wrapper(model)


def example_inputs(model: Any, meta: dict[str, Any], frames: int) -> dict[str, Any]:
    """Inputs of the graph for one `frames`-long segment (batch 1), as the numpy side builds them."""
    import numpy as np
    import torch

    from ap_demucs import spectral

    mix = np.random.default_rng(0).standard_normal((1, meta["audio_channels"], frames)).astype(np.float32)
    if meta["kind"] == "time":
        return {"mix": torch.from_numpy(mix)}
    mag = spectral.magnitude(spectral.spec(mix, meta), meta)
    return {"mix": torch.from_numpy(mix), "mag": torch.from_numpy(mag)}


def trace_frames(model: Any, meta: dict[str, Any]) -> int:
    """The input length the graph is traced at: a segment's, padded to the valid length of time-domain models.

    An HT model's graph holds only that length (its training length); the others' graphs take any length.
    """
    frames = int(Fraction(*meta["segment"]) * meta["samplerate"])
    return int(model.valid_length(frames)) if meta["kind"] == "time" else frames


@contextmanager
def _export_mode() -> Generator[None]:
    """nn.MultiheadAttention's fused fast path has no ONNX form: off while tracing, restored after."""
    import torch

    before = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about Python ints are expected here
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(before)


def to_onnx(model: Any, meta: dict[str, Any], frames: int | None = None) -> bytes:
    """One network as ONNX bytes for inputs of `frames` (default: a segment's); the batch dimension is dynamic.

    The graph holds one input length: demucs's layers pad by Python arithmetic on the length, which the tracer
    bakes in. HT models always run at their training length; the others get one graph per length they meet.
    """
    import torch

    model.eval()
    frames = trace_frames(model, meta) if frames is None else frames
    inputs = example_inputs(model, meta, frames)
    if meta["kind"] == "time":
        wrapper: Any = _TimeDomain(model)
        outputs = ["wave"]
    else:
        wrapper = _Spectral(model)
        outputs = ["spec", "wave"]
    axes = {name: {0: "batch"} for name in (*inputs, *outputs)}
    buffer = io.BytesIO()
    with _export_mode(), torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(
            wrapper,
            tuple(inputs.values()),
            buffer,  # ty: ignore[invalid-argument-type]  # the legacy exporter takes a file object
            input_names=list(inputs),
            output_names=outputs,
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    return _float_eyelike(buffer.getvalue())


def _float_eyelike(data: bytes) -> bytes:
    """ONNX Runtime has no boolean EyeLike (demucs's LocalState masks with torch.eye(bool)): do it in float."""
    import onnx
    from onnx import TensorProto, helper

    graph = onnx.load_from_string(data)
    if not any(node.op_type == "EyeLike" for node in graph.graph.node):
        return data
    nodes = []
    for node in graph.graph.node:
        if node.op_type != "EyeLike":
            nodes.append(node)
            continue
        src, out = node.input[0], node.output[0]
        dtype = next((a.i for a in node.attribute if a.name == "dtype"), TensorProto.BOOL)
        nodes.append(helper.make_node("Cast", [src], [f"{src}/float"], to=TensorProto.FLOAT, name=f"{node.name}/in"))
        del node.attribute[:]
        node.attribute.append(helper.make_attribute("dtype", TensorProto.FLOAT))
        node.input[0], node.output[0] = f"{src}/float", f"{out}/float"
        nodes.append(node)
        nodes.append(helper.make_node("Cast", [f"{out}/float"], [out], to=dtype, name=f"{node.name}/out"))
    del graph.graph.node[:]
    graph.graph.node.extend(nodes)
    return graph.SerializeToString()


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_loaded: dict[tuple[str, ...], list[Any]] = {}


def members(weights: Any) -> list[Any]:
    """The networks of the weights (one, or a bag's), loaded with torch once per process."""
    from ap_demucs.separator import load_weights

    key = tuple(str(path) for path in weights.hashed_files)
    if key not in _loaded:
        model = load_weights(weights)
        _loaded[key] = list(getattr(model, "models", [model]))
    return _loaded[key]


def export_network(weights: Any, index: int, frames: int | None = None) -> tuple[dict[str, Any], int, bytes]:
    """Network `index` of the weights: (its description, the input length of the graph, ONNX bytes)."""
    member = members(weights)[index]
    meta = member_meta(member)
    length = trace_frames(member, meta) if frames is None else frames
    try:
        return meta, length, to_onnx(member, meta, length)
    except Exception as exc:  # the exporter's failures are many and deep: one line naming the network
        cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(
            f"cannot export network {index} ({meta['class']}) of Demucs model {weights.name} to ONNX "
            f"({type(exc).__name__}: {cause})",
            hint="use --backend pytorch",
        ) from exc
