"""`ap demo FILE`: write the synthetic demo song (a tiny video with AAC audio) to try every command offline."""

from __future__ import annotations

from pathlib import Path

import click

from audio_playground.cli.app import CONTEXT_SETTINGS, get_app
from audio_playground.hookspecs import hookimpl


@click.command("demo", context_settings=CONTEXT_SETTINGS)
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--seconds", type=click.FloatRange(min=0.1), default=20.0, show_default=True, help="Length.")
@click.option("--sample-rate", type=click.IntRange(min=8000), default=44100, show_default=True, help="Rate in Hz.")
@click.option("--audio-only", is_flag=True, help="Write audio only (AAC in MP4) instead of a small video.")
def demo(target: Path, seconds: float, sample_rate: int, audio_only: bool) -> Path:
    """Write a synthetic song (drums, bass, chords; stereo) to TARGET, e.g. demo.mp4.

    It needs no download, so every command can be tried offline: ap extract hpss demo.mp4 -o stems
    """
    from audio_playground.audio.demo import make_demo

    app = get_app()
    app.setup()
    written = make_demo(target, seconds, sample_rate, video=not audio_only)
    app.log.info("wrote", target=str(written), seconds=seconds)
    return written


@hookimpl
def ap_register_commands(cli: click.Group) -> None:
    cli.add_command(demo)
