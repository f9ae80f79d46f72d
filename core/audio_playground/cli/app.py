"""The root `ap` group, the per-run App object, and `main()`, which maps errors to one line and an exit code."""

from __future__ import annotations

import sys
import traceback
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from audio_playground import __version__
from audio_playground.cli.options import CONFIG_FILE_KEY, OVERRIDES_KEY, add_global_options, global_options
from audio_playground.errors import APError, ExitStatus

if TYPE_CHECKING:
    from audio_playground.config import AudioPlaygroundConfig
    from audio_playground.plugins import PluginManager

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


class App:
    """What a command needs: the plugin manager and the config, built from every layer on first use."""

    def __init__(self, pm: PluginManager, ctx: click.Context) -> None:
        self.pm = pm
        self._ctx = ctx
        self._logging_ready = False
        self.reporter: Any = None

    @cached_property
    def config(self) -> AudioPlaygroundConfig:
        from audio_playground.config import load_config

        meta = self._ctx.meta
        return load_config(meta.get(CONFIG_FILE_KEY), **meta.get(OVERRIDES_KEY, {}))

    def setup(self) -> AudioPlaygroundConfig:
        """Load the config, configure logging and progress reporting; called at the start of a command."""
        config = self.config
        if not self._logging_ready:
            from audio_playground.logging import configure_logging

            configure_logging(config.log_level, config.log_format, config.quiet)
            self._logging_ready = True
            _STATE["debug"] = config.log_level == "DEBUG"
        return config

    @property
    def log(self) -> Any:
        from audio_playground.logging import get_logger

        self.setup()
        return get_logger("ap")

    def warn(self, message: str) -> None:
        self.log.warning(message)

    def progress(self, enabled: bool | None = None) -> Any:
        """The progress reporter for this run (rich bars on a terminal, log lines otherwise)."""
        if self.reporter is None:
            from audio_playground.cli.progress import ProgressReporter

            config = self.setup()
            show = config.progress if enabled is None else enabled
            self.reporter = ProgressReporter(self.log, bars=show and not config.quiet)
            self.pm.register(self.reporter, name="ap-progress")
            # unregister when the run ends, so a later run in the same process can register its own
            self._ctx.call_on_close(lambda: self.pm.unregister(name="ap-progress"))
        return self.reporter


_STATE: dict[str, Any] = {"debug": False}


def get_app(ctx: click.Context | None = None) -> App:
    """The App of the running command."""
    ctx = ctx or click.get_current_context()
    app = ctx.find_root().obj
    assert isinstance(app, App)
    return app


pass_app = click.make_pass_decorator(App)


class RootGroup(click.Group):
    """`ap`: commands are whatever the registered plugins add (built-in ones included)."""

    def __init__(self, *args: Any, pm: PluginManager, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pm = pm

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        ctx = super().make_context(info_name, args, parent=parent, **extra)
        ctx.obj = App(self.pm, ctx)
        return ctx


def build_cli(pm: PluginManager | None = None) -> RootGroup:
    """The root group with every plugin's commands registered (through the ap_register_commands hook)."""
    if pm is None:
        from audio_playground.plugins import get_plugin_manager

        pm = get_plugin_manager()

    @global_options
    @click.version_option(__version__, "--version", prog_name="audio-playground")
    def root() -> None:
        """audio-playground: stem separation for songs and videos of any length.

        Every step is a command of its own (convert, segment, extract, merge), results are cached, and
        steps chain into YAML workflows (ap run). Separators come from plugins: `ap plugins list`.
        """

    group = RootGroup(
        "ap",
        callback=root,
        params=root.__click_params__,  # ty: ignore[missing-attribute]
        help=root.__doc__,
        context_settings=CONTEXT_SETTINGS,
        pm=pm,
    )
    pm.hook.ap_register_commands(cli=group)
    _globalise(group)
    return group


def _globalise(command: click.Command) -> None:
    add_global_options(command)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _globalise(sub)


def _report(error: BaseException) -> None:
    if _STATE["debug"]:
        traceback.print_exception(error, file=sys.stderr)
    click.echo(f"error: {error}", err=True)


def run(args: list[str] | None = None, prog_name: str = "ap", pm: PluginManager | None = None) -> int:
    """Run the CLI and return the exit code instead of exiting (tests, scripts)."""
    _STATE["debug"] = False
    try:
        group = build_cli(pm)
        group.main(args=args, prog_name=prog_name, standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (KeyboardInterrupt, click.Abort):
        click.echo("error: interrupted; nothing was left half-written.", err=True)
        return ExitStatus.INTERRUPTED
    except APError as exc:
        _report(exc)
        return exc.exit_code
    except Exception as exc:
        _report(exc)
        if not _STATE["debug"]:
            click.echo("  (an unexpected error; run with --log-level DEBUG for the traceback)", err=True)
        return ExitStatus.FAILURE
    return ExitStatus.OK


def main(args: list[str] | None = None) -> None:
    """Console-script entry point (`ap`, `audio-playground`)."""
    prog = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "ap"
    sys.exit(run(args, prog_name=prog if prog in {"ap", "audio-playground"} else "ap"))
