"""Stand-in for sam_audio.model.base: BaseModel, a torch module with huggingface_hub's ModelHubMixin.

Its `_from_pretrained` takes upstream's keywords, `proxies` and `resume_download` among them, which
huggingface_hub >= 1.0 no longer passes: `from_pretrained` then fails with a TypeError, as upstream's does.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import torch
from huggingface_hub import ModelHubMixin, snapshot_download


class BaseModel(torch.nn.Module, ModelHubMixin):
    config_cls: Callable[..., Any]
    revision: str | None = None

    @classmethod
    def _from_pretrained(  # ty: ignore[incompatible-method-override]
        cls,
        *,
        model_id: str,
        cache_dir: str,
        force_download: bool,
        proxies: dict | None,
        resume_download: bool,
        local_files_only: bool,
        token: str | bool | None,
        map_location: str = "cpu",
        strict: bool = True,
        revision: str | None = None,
        **model_kwargs: Any,
    ) -> Any:
        folder = model_id
        if not os.path.isdir(model_id):
            folder = snapshot_download(repo_id=model_id, revision=cls.revision, local_files_only=local_files_only)
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as handle:
            model = cls(cls.config_cls(**json.load(handle)))
        state = torch.load(os.path.join(folder, "checkpoint.pt"), weights_only=True, map_location=map_location)
        model.load_state_dict(state, strict=strict)
        return model
