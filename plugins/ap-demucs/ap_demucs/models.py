"""Where Demucs weights live on this machine: a --repo folder, the torch hub cache, the Hugging Face cache.

Nothing here imports torch or demucs: listing models and naming their weights for cache keys stays cheap.
demucs 4.1 downloads a named model from the Hugging Face hub (one yaml + one safetensors file per model in
the bag) and falls back to its legacy files in the torch hub cache; both caches are checked here, offline.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from ap_demucs.options import KNOWN_MODELS, resolve_options
from audio_playground.errors import ModelError, PluginError, UsageError
from audio_playground.specs import ModelInfo

HF_NAMESPACE = "adefossez"
QUANTIZED = frozenset({"mdx_q", "mdx_extra_q"})
"""Models whose weights are diffq-compressed: loading them needs `pip install diffq`."""

Kind = Literal["repo", "torch-hub", "huggingface"]


@dataclass(frozen=True)
class BagFile:
    """A bag of models as its yaml describes it: signatures, per-stem weights, segment override."""

    signatures: tuple[str, ...]
    weights: list[list[float]] | None = None
    segment: float | None = None


@dataclass(frozen=True)
class LocalWeights:
    """A model's files on this machine, one weight file per signature, plus the bag yaml when a bag."""

    name: str
    kind: Kind
    files: tuple[Path, ...]
    bag: BagFile | None = None
    bag_file: Path | None = None

    @property
    def location(self) -> str:
        return str(self.files[0].parent)

    @property
    def hashed_files(self) -> tuple[Path, ...]:
        return self.files + ((self.bag_file,) if self.bag_file is not None else ())


# --------------------------------------------------------------------------- what demucs ships


def demucs_dir() -> Path:
    """The installed demucs package folder, found without importing it (importing demucs imports torch)."""
    spec = find_spec("demucs")
    if spec is None or not spec.submodule_search_locations:
        raise PluginError("demucs is not installed", hint="pip install ap-demucs (it brings demucs and torch)")
    return Path(next(iter(spec.submodule_search_locations)))


def remote_bags() -> dict[str, Path]:
    """The bag yaml files demucs ships for its named models, by name."""
    return {path.stem: path for path in sorted((demucs_dir() / "remote").glob("*.yaml"))}


def remote_files() -> dict[str, str]:
    """Signature -> file name of demucs's legacy downloads (the torch hub cache keeps these names)."""
    files: dict[str, str] = {}
    listing = demucs_dir() / "remote" / "files.txt"
    for raw in listing.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith("root:"):
            continue
        files[line.split("-", 1)[0]] = line
    return files


def read_bag(path: Path) -> BagFile:
    """Parse a demucs bag yaml (models, optional weights, optional segment)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
        signatures = tuple(str(sig) for sig in data["models"])
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ModelError(f"not a demucs bag of models ({exc})", path=path, hint="fix or remove the file") from exc
    segment = data.get("segment")
    return BagFile(signatures, data.get("weights"), None if segment is None else float(segment))


# --------------------------------------------------------------------------- caches


def torch_hub_checkpoints() -> Path:
    """torch.hub's download folder, as torch computes it (TORCH_HOME, else XDG_CACHE_HOME/torch)."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:  # honours torch.hub.set_dir() when torch is already loaded
        return Path(torch.hub.get_dir()) / "checkpoints"
    cache = os.environ.get("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    home = os.environ.get("TORCH_HOME", os.path.join(cache, "torch"))
    return Path(os.path.expanduser(home)) / "hub" / "checkpoints"


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment now (HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.path.expanduser(os.environ["HF_HUB_CACHE"]))
    cache = os.environ.get("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    home = os.environ.get("HF_HOME", os.path.join(cache, "huggingface"))
    return Path(os.path.expanduser(home)) / "hub"


def hf_repo_id(name: str) -> str:
    """The hub repository demucs 4.1 downloads a named model from (htdemucs_ft -> adefossez/HTDemucs-ft)."""
    if name == "htdemucs":
        repo = "HTDemucs"
    elif name.startswith("htdemucs_"):
        repo = "HTDemucs-" + name.removeprefix("htdemucs_")
    else:
        repo = "Demucs-" + name
    return f"{HF_NAMESPACE}/{repo}"


def _hf_cached(repo_id: str, filename: str) -> Path | None:
    if find_spec("huggingface_hub") is None:
        return None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, cache_dir=hf_cache_dir())
    return Path(found) if isinstance(found, str) else None


def offline() -> bool:
    """True when the environment says not to try downloads (HF_HUB_OFFLINE, as demucs's hub client does)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


# --------------------------------------------------------------------------- local repos


def scan_repo(repo: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """A --repo folder's weight files by signature and bag files by name, named as demucs names them."""
    if not repo.is_dir():
        raise UsageError("--repo is not a folder", path=repo, hint="pass a folder of <signature>.th files")
    singles: dict[str, Path] = {}
    bags: dict[str, Path] = {}
    for path in sorted(repo.iterdir()):
        if path.suffix == ".th":
            sig = path.stem.rsplit("-", 1)[0] if "-" in path.stem else path.stem
            if sig in singles:
                raise ModelError(
                    f"two weight files for signature {sig}",
                    path=repo,
                    hint=f"keep one of {singles[sig].name}, {path.name}",
                )
            singles[sig] = path
        elif path.suffix == ".yaml":
            bags[path.stem] = path
    return singles, bags


def known_names(repo: Path | None) -> list[str]:
    """Model names `--model` accepts: the repo's models with --repo, else demucs's published names."""
    if repo is not None:
        singles, bags = scan_repo(repo)
        return sorted(set(singles) | set(bags))
    return list(KNOWN_MODELS)


def _unknown(name: str, repo: Path | None) -> ModelError:
    names = ", ".join(known_names(repo)) or "none"
    if repo is not None:
        return ModelError(
            f"no Demucs model {name!r} in this repo",
            path=repo,
            hint=f"models here: {names}; a model is <signature>.th (or <signature>-<checksum>.th) or <name>.yaml",
        )
    return ModelError(
        f"unknown Demucs model {name!r}",
        hint=f"known models: {names}; or pass --repo DIR holding {name}.th or {name}.yaml",
    )


def locate(name: str, repo: Path | None = None) -> LocalWeights | None:
    """The files `name` loads from, found without the network; None when they are not on this machine.

    Raises ModelError when the name is unknown (to the repo, or to demucs).
    """
    if repo is not None:
        singles, bags = scan_repo(repo)
        if name in singles:
            return LocalWeights(name, "repo", (singles[name],))
        if name not in bags:
            raise _unknown(name, repo)
        bag = read_bag(bags[name])
        missing = [sig for sig in bag.signatures if sig not in singles]
        if missing:
            raise ModelError(
                f"bag {name} needs {', '.join(missing)}, which this repo lacks",
                path=bags[name],
                hint="copy the missing <signature>.th files into the repo",
            )
        return LocalWeights(name, "repo", tuple(singles[sig] for sig in bag.signatures), bag, bags[name])

    files = remote_files()
    shipped = remote_bags()
    checkpoints = torch_hub_checkpoints()
    if name in shipped:
        bag = read_bag(shipped[name])
        hub = [checkpoints / files[sig] for sig in bag.signatures if sig in files]
        if len(hub) == len(bag.signatures) and all(path.is_file() for path in hub):
            return LocalWeights(name, "torch-hub", tuple(hub), bag, shipped[name])
        repo_id = hf_repo_id(name)
        bag_file = _hf_cached(repo_id, f"{name}.yaml")
        if bag_file is None:
            return None
        hf_bag = read_bag(bag_file)
        found = [_hf_cached(repo_id, f"{sig}.safetensors") for sig in hf_bag.signatures]
        if any(path is None for path in found):
            return None
        return LocalWeights(name, "huggingface", tuple(p for p in found if p is not None), hf_bag, bag_file)
    if name in files:
        path = checkpoints / files[name]
        return LocalWeights(name, "torch-hub", (path,)) if path.is_file() else None
    raise _unknown(name, None)


def not_local_error(name: str, cause: str | None = None) -> ModelError:
    """The one message for a model whose weights are not here and cannot be fetched now."""
    why = f"the weights of Demucs model {name} are not on this machine"
    why += f" and downloading them failed ({cause})" if cause else " and downloads are off (HF_HUB_OFFLINE)"
    return ModelError(
        why,
        hint=f"on a connected machine run `python -m demucs -n {name} any.wav` once (it fills the torch hub and "
        "Hugging Face caches; copy them here), or pass --repo DIR with its <signature>.th and "
        f"{name}.yaml files",
    )


DOWNLOAD_HOSTS = ("huggingface.co", "dl.fbaipublicfiles.com")
"""Where demucs 4.1 downloads from: the Hugging Face hub first, its legacy file server second."""


def resolvable(host: str) -> bool:
    """True when `host` has an address: a machine with no network fails this at once, before any retry."""
    import socket

    try:
        return bool(socket.getaddrinfo(host, 443))
    except (OSError, UnicodeError):
        return False


def download(name: str) -> None:
    """Fetch a published model into demucs's caches (network); ModelError with a way out when that fails."""
    if offline():
        raise not_local_error(name)
    endpoint = urlsplit(os.environ.get("HF_ENDPOINT", "")).hostname  # a mirror, when one is set
    hosts = list(dict.fromkeys(host for host in (endpoint, *DOWNLOAD_HOSTS) if host))
    if not any(resolvable(host) for host in hosts):
        # Without this check huggingface_hub retries for half a minute and logs every retry.
        raise not_local_error(name, f"no network: cannot resolve {' or '.join(hosts)}")
    try:
        from demucs.pretrained import get_model

        get_model(name)
    except (Exception, SystemExit) as exc:  # demucs exits on some failures; nothing of torch reaches the user
        raise not_local_error(name, f"{type(exc).__name__}: {exc}".strip().rstrip(".")) from exc


def ensure_local(name: str, repo: Path | None = None) -> LocalWeights:
    """The model's local files, downloading a published model first when it is missing (and allowed)."""
    found = locate(name, repo)
    if found is None:
        download(name)
        found = locate(name, repo)
        if found is None:
            raise not_local_error(name, "the download left no files in the torch hub or Hugging Face cache")
    return found


# --------------------------------------------------------------------------- identity and listing


_digests: dict[tuple[tuple[str, int, int], ...], str] = {}


def weights_digest(weights: LocalWeights) -> str:
    """sha256 of the weight files' bytes in bag order, then the bag yaml (`cat FILES | sha256sum`).

    The yaml counts because its per-stem weights and segment change the output. Remembered per
    (path, size, mtime) in this process, so asking again costs a stat per file.
    """
    key = tuple(
        (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        for path, stat in ((path, path.stat()) for path in weights.hashed_files)
    )
    if key not in _digests:
        sha = hashlib.sha256()
        for path in weights.hashed_files:
            with path.open("rb") as handle:
                while block := handle.read(1 << 20):
                    sha.update(block)
        _digests[key] = sha.hexdigest()
    return _digests[key]


def cache_identity(options: Mapping[str, Any]) -> str:
    """The cache key part naming model and weights, demucs:NAME:HEX16; fetches a missing published model."""
    opts = resolve_options(options)
    weights = ensure_local(opts.model, opts.repo)
    return f"demucs:{opts.model}:{weights_digest(weights)[:16]}"


def list_models(options: Mapping[str, Any]) -> list[ModelInfo]:
    """The known models and whether each is on this machine (no download, no torch import)."""
    repo = options.get("repo")
    infos: list[ModelInfo] = []
    diffq = find_spec("diffq") is not None
    for name in KNOWN_MODELS:
        found = locate(name)
        note = "" if found else "downloaded on first use"
        if name in QUANTIZED and not diffq:
            note = "needs diffq: pip install diffq"
        infos.append(ModelInfo(name, found is not None, found.location if found else "", note))
    if repo is not None:
        repo = Path(repo).expanduser()
        singles, bags = scan_repo(repo)
        for name in sorted(set(singles) | set(bags)):
            try:
                found = locate(name, repo)
                infos.append(ModelInfo(name, found is not None, str(repo), "from --repo"))
            except ModelError as exc:
                infos.append(ModelInfo(name, False, str(repo), exc.message))
    return infos
