"""`ap report DIR`: the stem review page; and `--report` of `extract NAME` and `run`, which write it after a run."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import click

from audio_playground.cli.app import CONTEXT_SETTINGS, get_app
from audio_playground.errors import APError
from audio_playground.hookspecs import hookimpl

REPORT_FLAG = ""
"""What `--report` given alone stands for: the page, as OUTPUT_DIR/report.html."""
HTML_SUFFIXES = (".html", ".htm")
REPORT_HELP = (
    "Write the stem review page at the end of the run: --report alone writes OUTPUT_DIR/report.html, "
    "--report FILE.html writes FILE.html."
)


def report_option(json_report: bool = False) -> click.Option:
    """`--report [FILE.html]` for a command that writes stems; `json_report`: the separator's own --report FILE
    (SAM-Audio's JSON run report) is taken by the same option, for every value that is not an .html path."""
    help_text = REPORT_HELP + (
        " Any other FILE is the JSON run report (counters, seconds, memory)." if json_report else ""
    )
    return click.Option(
        ["--report", "report"],
        is_flag=False,
        flag_value=REPORT_FLAG,
        default=None,
        metavar="[FILE.html|FILE.json]" if json_report else "[FILE.html]",
        help=help_text,
    )


def page_target(value: str | os.PathLike[str] | None, output_dir: Path) -> Path | None:
    """Where `--report VALUE` puts the page, or None when VALUE is not about the page."""
    if value is None:
        return None
    text = os.fspath(value)
    if text == REPORT_FLAG:
        return Path(output_dir) / "report.html"
    if text.lower().endswith(HTML_SUFFIXES):
        return Path(text)
    return None


def check_report_value(value: str | None, json_report: bool) -> None:
    """Refuse a `--report VALUE` that is neither the page nor (where there is one) the JSON run report."""
    if value is not None and page_target(value, Path()) is None and not json_report:
        raise click.UsageError(
            f"--report {value!r}: give --report alone (OUTPUT_DIR/report.html) or an .html file name; "
            "with an input after it, write --report last or as --report=FILE.html"
        )


def _unique(names: Iterable[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


def report_results(
    results: Iterable[Any],
    target: Path,
    settings: Mapping[str, Any] | None = None,
) -> Any:
    """Write the page for the stems a run has just written (SeparateResults), the inputs as the mixes."""
    from audio_playground.evaluation import Track
    from audio_playground.report import build_report

    separated = [r for r in results if getattr(r, "stems", None)]
    if not separated:
        from audio_playground.errors import InputError

        raise InputError("the run wrote no stems, so there is no report to write", path=target)
    names = _unique(Path(r.source).stem for r in separated)
    tracks = [
        Track(name=name, stems={k: Path(v) for k, v in r.stems.items()}, mix=Path(r.source))
        for name, r in zip(names, separated, strict=True)
    ]
    folders = [str(Path(r.output_dir).resolve()) for r in separated]
    folder = Path(os.path.commonpath(folders)) if folders else target.parent
    recorded = {name: dict(settings or {}) for name in names} if settings else None
    return build_report(folder, output=target, tracks=tracks, settings=recorded)


def take_page(kwargs: dict[str, Any], json_report: bool) -> Path | None:
    """Split `--report` of an extract command: the page's path (or None); a JSON run report stays in kwargs."""
    value = kwargs.pop("report", None)
    check_report_value(value, json_report)
    target = page_target(value, kwargs["output_dir"])
    if json_report:
        kwargs["report"] = Path(value) if value is not None and target is None else None
    return target


def _separations(result: Any) -> list[Any] | None:
    """The SeparateResults in what a command returned, or None when it returned none (a batch summary)."""
    items = result if isinstance(result, list | tuple) else [result]
    found = [r for r in items if hasattr(r, "stems") and hasattr(r, "output_dir")]
    return found or None


def run_with_page(
    run: Callable[[], Any], target: Path | None, output_dir: Path, settings: Mapping[str, Any] | None = None
) -> Any:
    """Run a command's work, then write the page at `target` (when asked) for what it wrote.

    When the run fails part-way, the page covers what the output folder holds, and the failure is re-raised.
    """
    if target is None:
        return run()
    started = time.perf_counter()
    try:
        result = run()
    except APError:
        if Path(output_dir).is_dir():
            try:
                announce(build_folder_page(output_dir, target))
            except APError as exc:
                get_app().warn(f"report: {exc}")
        raise
    separated = _separations(result)
    if separated is None:
        announce(build_folder_page(output_dir, target))
        return result
    recorded = dict(settings or {})
    if len(separated) == 1 and "seconds" not in recorded:
        recorded["seconds"] = round(time.perf_counter() - started, 3)
    announce(report_results(separated, target, recorded))
    return result


def workflow_page(runs: Iterable[Any], value: str) -> Any:
    """`ap run --report`: one page for every separation the workflow ran (beside their common folder)."""
    separated = []
    for run in runs:
        for result in run.results.values():
            separated += _separations(result) or []
    if not separated:
        get_app().warn("report: the workflow separated nothing, so no page was written")
        return None
    folders = [str(Path(r.output_dir).resolve()) for r in separated]
    target = page_target(value, Path(os.path.commonpath(folders)))
    assert target is not None  # checked before the run
    result = report_results(separated, target)
    announce(result)
    return result


def build_folder_page(output_dir: Path, target: Path) -> Any:
    from audio_playground.report import build_report

    return build_report(output_dir, output=target)


def announce(result: Any) -> None:
    """Log the page and one warning line per problem it marks."""
    app = get_app()
    for problem in result.problems:
        app.warn(f"report: {problem}")
    app.log.info("wrote report", target=str(result.path), tracks=result.tracks, stems=result.stems)


@click.command("report", context_settings=CONTEXT_SETTINGS)
@click.argument("output_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--output",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The page to write (default: OUTPUT_DIR/report.html).",
)
@click.option(
    "--references",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of reference stems ({track}/{stem}.wav): adds the metrics of `ap eval` per stem.",
)
@click.option(
    "--mix",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The original mix of a single track (default: a mixture.* or mix.* file found beside the stems).",
)
@click.option("--embed", is_flag=True, help="Embed the audio in the page (base64) so the one file can be shared.")
def report_cmd(output_dir: Path, output: Path | None, references: Path | None, mix: Path | None, embed: bool) -> Any:
    """Write one self-contained HTML page to review the stems in OUTPUT_DIR.

    One synchronized player per track (play/pause, seek, loop a region, solo, mute and volume per stem, A/B
    against the original mix), waveforms, spectrograms, the reference-free checks, the metrics with
    --references, and the run's settings from OUTPUT_DIR/run-manifest.jsonl. It opens from the file system with
    no server and no network; audio is referenced by relative path unless --embed.
    """
    from audio_playground.report import build_report

    get_app().setup()
    result = build_report(output_dir, output=output, references=references, mix=mix, embed=embed)
    announce(result)
    return result


@hookimpl
def ap_register_commands(cli: click.Group) -> None:
    cli.add_command(report_cmd)
