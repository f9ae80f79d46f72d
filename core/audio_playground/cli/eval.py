"""`ap eval`: score stems against references (BSSEval v4, global SDR, SI-SDR) and check any stems without them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from audio_playground.cli.app import CONTEXT_SETTINGS, get_app
from audio_playground.errors import APError, ExitStatus, UsageError
from audio_playground.workflow.outputs import declare_outputs

METRIC_CHOICES = ("sdr", "sir", "isr", "sar", "global_sdr", "si_sdr")
EVAL_OUTPUTS = ("json", "csv", "median", "passed")


class BelowThreshold(APError):
    """A median under a --fail-under threshold: exit 1 (the table and files are written first)."""

    exit_code = ExitStatus.FAILURE


def parse_thresholds(values: tuple[str, ...]) -> dict[str, float]:
    """--fail-under STEM=DB values as {stem: dB}; a malformed one is a usage error."""
    out: dict[str, float] = {}
    for raw in values:
        stem, sep, number = raw.partition("=")
        try:
            if not sep or not stem.strip():
                raise ValueError
            out[stem.strip()] = float(number)
        except ValueError:
            raise UsageError(f"--fail-under {raw!r} is not STEM=DB", hint="e.g. --fail-under vocals=6.5") from None
    return out


@declare_outputs(EVAL_OUTPUTS)
@click.command("eval", context_settings=CONTEXT_SETTINGS)
@click.argument("estimates", type=click.Path(path_type=Path))
@click.option(
    "--references",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder of true stems, laid out like ESTIMATES. Without it only the reference-free checks run.",
)
@click.option(
    "--mix",
    type=click.Path(path_type=Path),
    default=None,
    help="A track's mixture (or a folder of {track}.wav mixtures) for the sum check (default: mixture.* beside).",
)
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the report as JSON.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the report as CSV.")
@click.option(
    "--fail-under",
    multiple=True,
    metavar="STEM=DB",
    help="Exit 1 when STEM's median (of --metric) over tracks is below DB. Repeatable.",
)
@click.option(
    "--metric",
    type=click.Choice(METRIC_CHOICES),
    default="sdr",
    show_default=True,
    help="The metric --fail-under compares.",
)
@click.option(
    "--resample",
    is_flag=True,
    help="Convert estimates to the references' rate, channels and length instead of refusing a mismatch.",
)
@click.option(
    "--window",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    metavar="S",
    help="BSSEval window in seconds (museval and SiSEC/MUSDB use 1).",
)
@click.option(
    "--hop",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="S",
    help="Seconds between windows (default: the window: no overlap).",
)
@click.option("--no-checks", is_flag=True, help="Skip the reference-free checks.")
def eval_cmd(
    estimates: Path,
    references: Path | None,
    mix: Path | None,
    json_path: Path | None,
    csv_path: Path | None,
    fail_under: tuple[str, ...],
    metric: str,
    resample: bool,
    window: float,
    hop: float | None,
    no_checks: bool,
) -> Any:
    """Score ESTIMATES (a folder of stems) against --references, and check the stems without references.

    Layouts: {track}/{stem}.{ext} (MUSDB18-HQ, the demucs CLI), our outputs ({track}/{stem}-{suffix}.{ext},
    or one track's {stem}-{suffix}.{ext}); stems are matched by name. Metrics (dB, higher is better): BSSEval
    v4 SDR, SIR, ISR, SAR as museval computes them (median over 1 s windows), the MDX global SDR, SI-SDR.
    Checks: the stems' sum against the mix, silent or clipped stems, stems whose length or rate differs.
    """
    from audio_playground.evaluation.report import evaluate, format_table, to_csv, to_json, write_text_atomic

    app = get_app()
    app.setup()
    thresholds = parse_thresholds(fail_under)
    if thresholds and references is None:
        raise UsageError("--fail-under needs --references", hint="pass the folder of true stems with --references")
    report = evaluate(
        estimates,
        references,
        mix=mix,
        resample=resample,
        window=window,
        hop=window if hop is None else hop,
        checks=not no_checks,
    )
    click.echo(format_table(report))
    if json_path is not None:
        write_text_atomic(json_path, to_json(report))
    if csv_path is not None:
        write_text_atomic(csv_path, to_csv(report))
    failures = report.failures(thresholds, metric)
    if failures:
        raise BelowThreshold("; ".join(failures), hint=f"{len(failures)} of {len(thresholds)} --fail-under failed")
    return {"json": json_path, "csv": csv_path, "median": report.median, "passed": True}
