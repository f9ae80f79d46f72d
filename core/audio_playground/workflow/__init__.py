"""YAML workflows (`ap run`): a schema, a runner that calls the same commands in-process, and the command.

Importing this package is cheap: the schema (pydantic, PyYAML) and the runner load when a workflow runs.
"""

from __future__ import annotations

from audio_playground.workflow.outputs import declare_outputs, declared_outputs, result_outputs

__all__ = ["declare_outputs", "declared_outputs", "result_outputs"]
