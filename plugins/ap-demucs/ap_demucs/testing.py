"""Write a local Demucs repo of randomly initialised real models, for tests and benchmarks (no download).

    python -m ap_demucs.testing DIR           tiny models: tiny4, tiny4b, tiny6 (HTDemucs), tinyd4 (Demucs),
                                              tinyh4 (HDemucs), and the bag tinybag.yaml (tiny4 + tiny4b)
    python -m ap_demucs.testing DIR --full    also full4: the full-size htdemucs architecture (~42M params)

Then `ap extract demucs song.wav --repo DIR --model tiny4 ...`. Files are saved the way demucs loads them:
`<signature>.th` holding torch.save({"klass", "args", "kwargs", "state"}).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

STEMS_4 = ["drums", "bass", "other", "vocals"]
STEMS_6 = ["drums", "bass", "other", "vocals", "guitar", "piano"]
BAG_WEIGHTS = [[1.0, 0.0, 1.0, 0.5], [0.0, 1.0, 1.0, 0.5]]
FULL_SEGMENT = Fraction(39, 5)
"""htdemucs's training segment, 7.8 s, kept exact as demucs keeps it (int(44100 * 7.8) frames)."""


def tiny_htdemucs(sources: Sequence[str] = STEMS_4, seed: int = 0) -> Any:
    """A small HTDemucs (about 0.36M parameters, 2 s segment) with seeded random weights."""
    import torch
    from demucs.htdemucs import HTDemucs

    torch.manual_seed(seed)
    return HTDemucs(list(sources), channels=8, t_layers=1, segment=2)


def full_htdemucs(sources: Sequence[str] = STEMS_4, seed: int = 0) -> Any:
    """The released htdemucs architecture (41,984,456 parameters for 4 stems) with random weights."""
    import torch
    from demucs.htdemucs import HTDemucs

    torch.manual_seed(seed)
    return HTDemucs(list(sources), bottom_channels=512, dconv_mode=3, segment=FULL_SEGMENT)


def tiny_demucs(sources: Sequence[str] = STEMS_4, seed: int = 0) -> Any:
    """A small time-domain Demucs (v2), whose valid_length pads its input: the non-HT code path."""
    import torch
    from demucs.demucs import Demucs

    torch.manual_seed(seed)
    return Demucs(list(sources), channels=4, depth=4, segment=2)


def tiny_hdemucs(sources: Sequence[str] = STEMS_4, seed: int = 0) -> Any:
    """A small hybrid Demucs (v3, the mdx/hdemucs_mmi family) with a 2 s segment."""
    import torch
    from demucs.hdemucs import HDemucs

    torch.manual_seed(seed)
    return HDemucs(list(sources), channels=4, segment=2)


def save_model(model: Any, path: Path) -> Path:
    """Save `model` as demucs's loaders expect, atomically (temp file in the same folder, then rename)."""
    import torch

    args, kwargs = model._init_args_kwargs
    package = {
        "klass": type(model),
        "args": args,
        "kwargs": kwargs,
        "state": {key: value.detach().cpu().clone() for key, value in model.state_dict().items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(package, handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_bag(
    path: Path,
    signatures: Sequence[str],
    weights: Sequence[Sequence[float]] | None = None,
    segment: float | None = None,
) -> Path:
    """Write a demucs bag-of-models yaml, atomically."""
    import yaml

    data: dict[str, Any] = {"models": list(signatures)}
    if weights is not None:
        data["weights"] = [list(map(float, row)) for row in weights]
    if segment is not None:
        data["segment"] = segment
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(yaml.safe_dump(data))
    os.replace(tmp, path)
    return path


def write_test_repo(directory: str | Path, *, full: bool = False, seed: int = 0) -> dict[str, Path]:
    """Write the test models into `directory` (created if needed); returns {model name: file}."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    written = {
        "tiny4": save_model(tiny_htdemucs(STEMS_4, seed), root / "tiny4.th"),
        "tiny4b": save_model(tiny_htdemucs(STEMS_4, seed + 1), root / "tiny4b.th"),
        "tiny6": save_model(tiny_htdemucs(STEMS_6, seed + 2), root / "tiny6.th"),
        "tinyd4": save_model(tiny_demucs(STEMS_4, seed + 3), root / "tinyd4.th"),
        "tinyh4": save_model(tiny_hdemucs(STEMS_4, seed + 4), root / "tinyh4.th"),
        "tinybag": write_bag(root / "tinybag.yaml", ["tiny4", "tiny4b"], BAG_WEIGHTS),
    }
    if full:
        written["full4"] = save_model(full_htdemucs(STEMS_4, seed), root / "full4.th")
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write the repo and list what was written."""
    parser = argparse.ArgumentParser(prog="python -m ap_demucs.testing", description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, help="folder to write the models into")
    parser.add_argument("--full", action="store_true", help="also write full4, the full-size htdemucs shape")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    args = parser.parse_args(argv)
    for name, path in write_test_repo(args.directory, full=args.full, seed=args.seed).items():
        print(f"{name}\t{path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
