"""The onnx backend's own options, `--batch-size` and `--runtime` (light: read at discovery)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audio_playground.errors import UsageError
from audio_playground.specs import OptionSpec

BATCH_SIZE = OptionSpec(
    "batch_size",
    int,
    1,
    "Chunks sent through the network in one call, on the onnx backend (a GPU's throughput; the stems equal "
    "batch 1's to 1e-5). Memory grows with N.",
    cache_key=False,  # batching changes the speed, not the stems
)


def batch_size(options: Mapping[str, Any]) -> int:
    """--batch-size, validated (unset: 1)."""
    value = options.get("batch_size")
    size = 1 if value is None else int(value)
    if size < 1:
        raise UsageError(f"--batch-size must be >= 1, not {size}", hint="the default is 1")
    return size


RUNTIME = OptionSpec(
    "runtime",
    str,
    "auto",
    "What runs the exported networks on the onnx backend: auto (OpenVINO on the CPU when installed, measured "
    "faster here; else ONNX Runtime), onnxruntime, or openvino.",
    choices=("auto", "onnxruntime", "openvino"),
    cache_key=False,  # both run the same graph; the stems agree to float rounding
)
