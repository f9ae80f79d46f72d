"""Every `ap ...` command the documentation shows exists, and takes every option it is shown with.

Each command line in README.md, CONTRIBUTING.md, docs/ and the plugins' READMEs (fenced shell blocks,
indented code blocks and inline code) is resolved against the real click tree, and `ap <subcommand> --help`
must show every option the line uses. The tree holds the core, the installed plugins and this repository's
plugins imported from source (their hook modules import nothing heavy), so plugin commands are checked here
too; a command that no plugin here provides is skipped with the reason. The docs site's own tooling
(docs/_tooling: the CLI reference tree and the generated tables) is tested at the end.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import re
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLING = ROOT / "docs" / "_tooling"
PROGRAMS = {"ap", "ap.exe", "audio-playground", "audio-playground.exe"}
SHELL_LANGUAGES = {"", "bash", "sh", "shell", "console", "zsh", "powershell", "ps1", "pwsh", "text"}
SEPARATORS = {"&&", "||", ";", "|"}
OPTION = re.compile(r"^--?[A-Za-z][\w-]*$")
PLACEHOLDER = re.compile(r"[A-Z][A-Z_]+")
GUIDE = "docs/plugins.md"
"""The plugin guide: its example plugin's commands are checked by test_plugin_guide.py, which installs it."""


def doc_files() -> list[Path]:
    """The Markdown files whose commands are checked."""
    files = [ROOT / "README.md", ROOT / "CONTRIBUTING.md"]
    files += sorted((ROOT / "docs").rglob("*.md"))
    files += sorted((ROOT / "plugins").glob("*/README.md"))
    return [f for f in files if f.is_file() and "_tooling" not in f.parts]


# --------------------------------------------------------------------------- finding command lines


def code_lines(markdown: str, inline: bool = True) -> Iterator[tuple[int, str]]:
    """(line number, text) of every piece of shell the page shows: shell fences, indented blocks, inline code."""
    fence: str | None = None
    language = ""
    pending = ""
    pending_line = 0
    for number, raw in enumerate(markdown.splitlines(), start=1):
        stripped = raw.strip()
        if fence is None:
            match = re.match(r"^(`{3,}|~{3,})\s*([\w+-]*)", stripped)
            if match:
                fence, language = match.group(1), match.group(2).lower()
            elif raw.startswith(("    ", "\t")) and _starts_command(stripped):
                yield number, stripped  # an indented code block
            elif inline:
                for span in re.findall(r"(?<!`)`([^`]+)`(?!`)", raw):
                    yield number, span.replace("\\|", "|")  # "\|" is a pipe escaped for a table
            continue
        if stripped.startswith(fence) and not stripped.strip("`~"):
            fence = None
            continue
        if language not in SHELL_LANGUAGES:
            continue
        text = stripped.removeprefix("$ ").removeprefix("PS> ")
        continued = text.endswith("\\") or (language in {"powershell", "ps1", "pwsh"} and text.endswith("`"))
        if continued:
            pending_line = pending_line or number
            pending += text[:-1] + " "
        elif pending:
            yield pending_line, pending + text
            pending, pending_line = "", 0
        else:
            yield number, text


def _starts_command(text: str) -> bool:
    """Whether an indented line reads like a shell command that may run `ap` (not prose, not code)."""
    first = text.removeprefix("$ ").split(" ", 1)[0]
    return Path(first).name in PROGRAMS or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", first) is not None


def commands_in(text: str) -> list[list[str]]:
    """The `ap` invocations in a piece of shell, each as the arguments after the program name."""
    try:
        tokens = shlex.split(text, comments=True)
    except ValueError:  # prose in inline code, an unbalanced quote: no command here
        return []
    found: list[list[str]] = []
    current: list[str] = []
    for token in [*tokens, ";"]:
        if token in SEPARATORS:
            args = _program_args(current)
            if args is not None:
                found.append(args)
            current = []
        else:
            current.append(token)
    return found


def _program_args(tokens: list[str]) -> list[str] | None:
    """Arguments after `ap`/`audio-playground`/`python -m audio_playground`, past VAR=value prefixes."""
    i = 0
    while i < len(tokens) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", tokens[i]):
        i += 1
    if i < len(tokens) and Path(tokens[i]).name in PROGRAMS:
        return tokens[i + 1 :]
    if tokens[i : i + 3] in (["python", "-m", "audio_playground"], ["python3", "-m", "audio_playground"]):
        return tokens[i + 3 :]
    return None


@dataclass(frozen=True)
class DocCommand:
    """One `ap` invocation shown in the documentation."""

    source: str
    """file:line"""
    text: str
    args: tuple[str, ...]

    @property
    def file(self) -> str:
        return self.source.rsplit(":", 1)[0]


def documented_commands(files: list[Path] | None = None) -> list[DocCommand]:
    """Every `ap` invocation in the documentation, in file and line order (duplicates kept once per file)."""
    found: list[DocCommand] = []
    for path in files if files is not None else doc_files():
        rel = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
        seen: set[tuple[str, ...]] = set()
        for number, text in code_lines(path.read_text(encoding="utf-8")):
            for args in commands_in(text):
                if tuple(args) not in seen:
                    seen.add(tuple(args))
                    found.append(DocCommand(f"{rel}:{number}", text, tuple(args)))
    return found


# --------------------------------------------------------------------------- resolving against the click tree


@dataclass
class Invocation:
    """One concrete command path a documented line expands to, and the options it uses at each level."""

    path: tuple[str, ...]
    options: list[tuple[tuple[str, ...], str]] = field(default_factory=list)


@dataclass
class Resolution:
    invocations: list[Invocation]
    missing: list[str]
    """Subcommand paths the line names that this tree does not have."""


def _option_names(token: str) -> list[str]:
    """The option names a token spells ("--a/--b", "-q|--quiet", "[--x=1]"), or none for a value."""
    token = token.strip("[](),").split("=", 1)[0].removesuffix("...")
    names = [part for chunk in token.split("|") for part in chunk.split("/")]
    return [name for name in names if OPTION.match(name)]


def _takes_value(command: click.Command, ctx: click.Context, name: str) -> bool:
    for param in command.get_params(ctx):
        if isinstance(param, click.Option) and name in (*param.opts, *param.secondary_opts):
            return not (param.is_flag or param.count)
    return False


def resolve(cli: click.Group, args: tuple[str, ...]) -> Resolution:
    """Walk the documented arguments down the click tree, expanding `a|b` alternatives and NAME placeholders."""
    root = click.Context(cli, info_name="ap")
    invocations: list[Invocation] = []
    missing: list[str] = []

    def walk(command: click.Command, ctx: click.Context, path: tuple[str, ...], i: int, used: list[Any]) -> None:
        while i < len(args):
            token = args[i]
            names = _option_names(token)
            if names:
                used = [*used, *((path, name) for name in names)]
                takes = "=" not in token and _takes_value(command, ctx, names[-1])
                i += 2 if takes else 1
                continue
            if token.startswith("-") or not isinstance(command, click.Group):
                i += 1  # a value, an argument, or metasyntax such as "..."
                continue
            available = command.list_commands(ctx)
            choices: list[str] = []
            for alternative in token.strip("[]").split("|"):
                if alternative == "...":  # "ap cache ...": any of its subcommands
                    choices += available
                elif alternative in available:
                    choices.append(alternative)
                elif PLACEHOLDER.search(alternative):
                    pattern = re.compile("^" + PLACEHOLDER.sub("[a-z0-9][a-z0-9-]*", re.escape(alternative)) + "$")
                    choices += [name for name in available if pattern.match(name)]
                else:
                    missing.append(" ".join([*path, alternative]))
            for name in choices:
                sub = command.get_command(ctx, name)
                assert sub is not None
                walk(sub, click.Context(sub, info_name=name, parent=ctx), (*path, name), i + 1, used)
            return
        invocations.append(Invocation(path, list(used)))

    walk(cli, root, (), 0, [])
    return Resolution(invocations, missing)


def help_text(pm: Any, path: tuple[str, ...]) -> str:
    """The output of `ap PATH --help`, run in-process with plugin manager `pm`."""
    from audio_playground.cli import run

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = run([*path, "--help"], pm=pm)
    assert code == 0, f"`ap {' '.join(path)} --help` exited {code}"
    return out.getvalue()


def uses_option(help_output: str, option: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", help_output) is not None


def stale_options(pm: Any, cli: click.Group, command: DocCommand, helps: dict[tuple[str, ...], str]) -> list[str]:
    """What is wrong with a documented command (empty when every option is in its --help)."""
    problems: list[str] = []
    for invocation in resolve(cli, command.args).invocations:
        for level, option in invocation.options:
            if level not in helps:
                helps[level] = help_text(pm, level)
            if not uses_option(helps[level], option):
                shown = " ".join(("ap", *level))
                problems.append(f"{command.source}: `{command.text}` uses {option}, which `{shown} --help` lacks")
    return problems


# --------------------------------------------------------------------------- the tree the docs describe


def load_tooling(name: str) -> Any:
    """Import a module of docs/_tooling (the docs build's own code)."""
    if str(TOOLING) not in sys.path:
        sys.path.insert(0, str(TOOLING))
    return importlib.import_module(name)


@dataclass
class Tree:
    pm: Any
    cli: click.Group
    failures: dict[str, str]
    helps: dict[tuple[str, ...], str] = field(default_factory=dict)


def build_tree(monkeypatch: pytest.MonkeyPatch) -> Tree:
    """The core, every installed plugin (entry points on) and this repository's plugins from source."""
    from audio_playground.cli import build_cli
    from audio_playground.plugins import build_plugin_manager

    monkeypatch.delenv("AUDIO_PLAYGROUND_LOAD_PLUGINS", raising=False)
    ap_docs = load_tooling("ap_docs")
    pm = build_plugin_manager()
    failures = {record.name: str(record.error) for record in pm.records if record.error}
    failures.update(ap_docs.add_repository_plugins(pm, strict=False))
    return Tree(pm, build_cli(pm), failures)


@pytest.fixture
def tree(monkeypatch: pytest.MonkeyPatch) -> Tree:
    return build_tree(monkeypatch)


COMMANDS = documented_commands()


def skip_reason(tree: Tree, command: DocCommand, missing: list[str]) -> str:
    names = ", ".join(f"`ap {m}`" for m in missing)
    if command.file == GUIDE:
        return f"{names}: the plugin guide's example plugin; tests/core/test_plugin_guide.py installs and checks it"
    failed = "; ".join(f"{name} ({error})" for name, error in tree.failures.items())
    return f"{names}: not provided by any plugin here" + (
        f"; plugins that failed to import: {failed}" if failed else ""
    )


@pytest.mark.parametrize("command", COMMANDS, ids=[f"{c.source} ap {' '.join(c.args)}"[:90] for c in COMMANDS])
def test_documented_command_is_current(tree: Tree, command: DocCommand) -> None:
    resolution = resolve(tree.cli, command.args)
    if not resolution.invocations:
        pytest.skip(skip_reason(tree, command, resolution.missing))
    problems = stale_options(tree.pm, tree.cli, command, tree.helps)
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- Python examples

PYTHON_EXAMPLES = ("README.md", "docs/api.md")
"""Pages whose Python examples run as they are, given a few small songs in the working directory."""


def python_blocks(markdown: str) -> list[str]:
    """The untitled ```python blocks of a page (titled ones are files of the plugin guide)."""
    return [m.group(1) for m in re.finditer(r"^```python\n(.*?)^```", markdown, flags=re.M | re.S)]


@pytest.mark.parametrize("page", PYTHON_EXAMPLES)
def test_python_examples_run(page: str, isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np
    import soundfile as sf

    rate = 44100
    t = np.arange(2 * rate) / rate
    audio = np.stack([0.3 * np.sin(2 * np.pi * 220 * t), 0.3 * np.sin(2 * np.pi * 330 * t)], axis=1)
    for name in ("song.mp3", "a.mp3", "b.flac"):
        sf.write(isolated / name, audio, rate)
    blocks = python_blocks((ROOT / page).read_text(encoding="utf-8"))
    assert blocks, page
    for block in blocks:
        exec(compile(block, f"{page} example", "exec"), {"__name__": "__docs__"})
    out = capsys.readouterr().out
    assert "harmonic" in out and "hpss" in out
    assert {p.name for p in (isolated / "stems").rglob("*.wav")} == {"harmonic-hpss.wav", "percussive-hpss.wav"}


def test_settings_examples_load(isolated: Path) -> None:
    from audio_playground.config import load_config

    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    blocks = [m.group(1) for m in re.finditer(r"^```toml\n(.*?)^```", page, flags=re.M | re.S)]
    assert blocks
    for number, block in enumerate(blocks):
        path = isolated / f"settings-{number}.toml"
        path.write_text(block, encoding="utf-8")
        config = load_config(path)
        for line in block.splitlines():
            if "=" in line and not line.startswith("#"):
                key, value = (part.strip() for part in line.split("=", 1))
                assert str(getattr(config, key)) == value.strip('"'), key


# --------------------------------------------------------------------------- the checker itself


def test_the_docs_show_the_core_commands() -> None:
    shown = {" ".join(c.args[:2]) for c in COMMANDS}
    for expected in ("extract hpss", "convert to-wav", "segment split", "merge concat", "plugins list"):
        assert any(s.startswith(expected) for s in shown), expected
    assert {c.file for c in COMMANDS} >= {"README.md", "docs/getting-started.md", GUIDE}


def test_code_lines_reads_fences_indented_blocks_and_inline_code() -> None:
    page = "\n".join(
        [
            "Run `ap plugins list` or `pip install x`.",
            "",
            "```bash",
            "$ HF_HUB_OFFLINE=1 ap models list  # offline",
            "ap extract hpss a.mp3 \\",
            "    --output-dir out",
            "```",
            "",
            "```python",
            "ap = 1",
            "```",
            "",
            "    ap demo demo.mp4",
            "",
            '=== "tab"',
            "",
            "    ```bash",
            "    .venv/bin/ap demo x.mp4 && ap extract hpss x.mp4 -o s | tee log",
            "    ```",
            "Table: `ap cache list\\|info`",
        ]
    )
    lines = list(code_lines(page))
    commands = [args for _, text in lines for args in commands_in(text)]
    assert commands == [
        ["plugins", "list"],
        ["models", "list"],
        ["extract", "hpss", "a.mp3", "--output-dir", "out"],
        ["demo", "demo.mp4"],
        ["demo", "x.mp4"],
        ["extract", "hpss", "x.mp4", "-o", "s"],
        ["cache", "list|info"],
    ]
    assert [n for n, text in lines if "--output-dir out" in text] == [5]


def test_commands_in_ignores_what_is_not_an_ap_command() -> None:
    assert commands_in("pip install ./plugins/ap-demucs") == []
    assert commands_in("ap-demucs") == []
    assert commands_in("it's `broken") == []
    assert commands_in("python -m audio_playground config show") == [["config", "show"]]
    assert commands_in("audio-playground --version") == [["--version"]]


def test_resolve_expands_alternatives_and_placeholders(tree: Tree) -> None:
    both = resolve(tree.cli, ("config|plugins", "show|list", "--json"))
    assert sorted(i.path for i in both.invocations) == [("config", "show"), ("plugins", "list")]
    assert sorted(both.missing) == ["config list", "plugins show"]
    every = resolve(tree.cli, ("extract", "process-NAME", "--src", "FILE"))
    paths = {i.path for i in every.invocations}
    assert ("extract", "process-hpss") in paths
    assert all(p[1].startswith("process-") for p in paths)
    root_option = resolve(tree.cli, ("--log-level", "DEBUG", "extract", "hpss", "x.mp3", "-q"))
    assert root_option.invocations[0].options == [((), "--log-level"), (("extract", "hpss"), "-q")]
    absent = resolve(tree.cli, ("no-such-command", "--x"))
    assert absent.invocations == [] and absent.missing == ["no-such-command"]


def test_option_names_reads_metasyntax() -> None:
    assert _option_names("--progress/--no-progress") == ["--progress", "--no-progress"]
    assert _option_names("[-q|--quiet]") == ["-q", "--quiet"]
    assert _option_names("--window-size=10") == ["--window-size"]
    assert _option_names("-1") == []
    assert _option_names("...") == []


def test_a_stale_option_is_reported(tree: Tree) -> None:
    text = "ap extract hpss a.mp3 --kernel-size 9 --no-such-flag"
    stale = DocCommand("x.md:1", text, tuple(commands_in(text)[0]))
    assert stale_options(tree.pm, tree.cli, stale, {}) == [
        f"x.md:1: `{text}` uses --no-such-flag, which `ap extract hpss --help` lacks"
    ]
    assert uses_option("  -o, --output-dir DIR", "-o")
    assert not uses_option("  --segment-size N", "--segment")


def test_skip_reasons_name_what_is_missing(tree: Tree) -> None:
    guide = DocCommand(f"{GUIDE}:3", "ap extract bands x", ("extract", "bands", "x"))
    assert "test_plugin_guide.py" in skip_reason(tree, guide, ["extract bands"])
    other = DocCommand("README.md:3", "ap nothing", ("nothing",))
    tree.failures["broken"] = "ImportError: x"
    assert skip_reason(tree, other, ["nothing"]) == (
        "`ap nothing`: not provided by any plugin here; plugins that failed to import: broken (ImportError: x)"
    )


# --------------------------------------------------------------------------- the docs build's tooling


def test_repository_plugins_come_from_their_pyprojects() -> None:
    ap_docs = load_tooling("ap_docs")
    plugins = {p.distribution: p for p in ap_docs.repository_plugins()}
    assert plugins["ap-demucs"].module == "ap_demucs.plugin"
    assert plugins["ap-demucs"].root == ROOT / "plugins" / "ap-demucs"
    for dist in plugins:
        assert (ROOT / "plugins" / dist / "pyproject.toml").is_file()


def _fake_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, package: str, body: str) -> Any:
    """A plugins/ folder holding one plugin distribution `ap-fake` with `body` as its hook module."""
    project = tmp_path / "plugins" / "ap-fake"
    (project / package).mkdir(parents=True)
    (project / package / "__init__.py").write_text("")
    (project / package / "plugin.py").write_text(body)
    (project / "pyproject.toml").write_text(
        '[project]\nname = "ap-fake"\nversion = "9.9"\n'
        f'[project.entry-points.audio_playground]\nfake = "{package}.plugin:unused"\n'
    )
    ap_docs = load_tooling("ap_docs")
    monkeypatch.setattr(ap_docs, "PLUGINS_DIR", tmp_path / "plugins")
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in (package, f"{package}.plugin"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return ap_docs


def test_a_repository_plugin_registers_from_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from audio_playground.plugins import build_plugin_manager

    body = (
        "import click\nfrom audio_playground import hookimpl\n\n"
        "@hookimpl\ndef ap_register_commands(cli):\n"
        "    @cli.command('fake')\n    def fake():\n        'A command from source.'\n"
    )
    ap_docs = _fake_plugins(tmp_path, monkeypatch, "ap_fake_good", body)
    pm = build_plugin_manager(load_entry_points=False)
    assert ap_docs.add_repository_plugins(pm) == {}
    record = next(r for r in pm.records if r.name == "fake")
    assert (record.distribution, record.version, record.builtin) == ("ap-fake", "9.9", False)
    assert ap_docs.add_repository_plugins(pm) == {}  # already there: not registered twice
    assert ("fake", "ap-fake") in ap_docs.providers(pm)


def test_a_broken_repository_plugin_fails_the_docs_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from audio_playground.plugins import build_plugin_manager

    ap_docs = _fake_plugins(tmp_path, monkeypatch, "ap_fake_broken", "import torch_that_is_not_here\n")
    pm = build_plugin_manager(load_entry_points=False)
    failures = ap_docs.add_repository_plugins(pm, strict=False)
    assert "torch_that_is_not_here" in failures["fake"]
    with pytest.raises(RuntimeError, match="must import without their heavy libraries"):
        ap_docs.add_repository_plugins(pm, strict=True)


def _command_paths(group: click.Group, ctx: click.Context) -> Iterator[tuple[click.Command, tuple[str, ...]]]:
    for name in group.list_commands(ctx):
        sub = group.get_command(ctx, name)
        assert sub is not None
        yield sub, (*ctx.command_path.split()[1:], name)
        if isinstance(sub, click.Group):
            yield from _command_paths(sub, click.Context(sub, info_name=name, parent=ctx))


def test_reference_tree_lists_every_command_with_global_options_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDIO_PLAYGROUND_LOAD_PLUGINS", raising=False)
    ap_docs = load_tooling("ap_docs")
    monkeypatch.setattr(ap_docs, "_cli", None)
    reference = ap_docs.cli
    assert ap_docs.cli is reference
    root = click.Context(reference, info_name="ap")
    assert "--log-level" in reference.get_help(root)
    paths = {}
    for command, path in _command_paths(reference, root):
        paths[path] = command
        assert not {"log_level", "device", "quiet"} & {p.name for p in command.params}, path
    for expected in [("convert", "to-wav"), ("segment", "split"), ("merge", "concat"), ("extract", "hpss")]:
        assert expected in paths
    # plugins of this repository are documented although the docs env installs none of them
    assert ("extract", "demucs") in paths
    assert ("extract", "sam-audio") in paths
    hpss = paths["extract", "hpss"]
    assert "--kernel-size" in hpss.get_help(click.Context(hpss, info_name="hpss"))
    with pytest.raises(AttributeError):
        _ = ap_docs.no_such_name


def test_generated_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    from audio_playground.config import AudioPlaygroundConfig

    monkeypatch.delenv("AUDIO_PLAYGROUND_LOAD_PLUGINS", raising=False)
    hooks = load_tooling("hooks")
    page = hooks.on_page_markdown("# x\n\n<!-- ap:providers -->\n\n<!-- ap:settings -->\n", page=None)
    assert "<!--" not in page
    assert "| `ap extract hpss, extract process-hpss` | audio-playground (numpy) |" in page
    assert "| `ap convert` | audio-playground |" in page
    for name in AudioPlaygroundConfig.model_fields:
        assert f"| `{name}` | `AUDIO_PLAYGROUND_{name.upper()}` |" in page
    assert "| `window_size` | `AUDIO_PLAYGROUND_WINDOW_SIZE` | `10.0` |" in page
    assert "| `bit_depth` | `AUDIO_PLAYGROUND_BIT_DEPTH` | unset |" in page
    assert "platform cache folder" in page
    assert hooks.on_page_markdown("no markers", page=None) == "no markers"
    assert hooks._cell("a|b\nc") == "a\\|b c"


def check_lines(commands: list[DocCommand], pm: Any) -> tuple[list[str], list[str]]:
    """(problems, missing) for `commands` against the tree of `pm`: used by test_plugin_guide.py."""
    from audio_playground.cli import build_cli

    cli = build_cli(pm)
    helps: dict[tuple[str, ...], str] = {}
    problems: list[str] = []
    missing: list[str] = []
    for command in commands:
        resolution = resolve(cli, command.args)
        missing += resolution.missing
        if resolution.invocations:
            problems += stale_options(pm, cli, command, helps)
    return problems, missing
