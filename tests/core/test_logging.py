"""Log lines: console or JSON, the threshold, and structlog (and rich) imported only when a line is written."""

from __future__ import annotations

import io
import json
import subprocess
import sys

from audio_playground import logging as ap_logging


def test_json_lines_carry_level_time_and_context() -> None:
    stream = io.StringIO()
    ap_logging.configure_logging("DEBUG", "json", stream=stream)
    log = ap_logging.get_logger("t").bind(run=3)
    log.debug("one", n=1)
    log.info("two")
    log.warning("three")
    log.warn("three again")
    log.error("four")
    log.critical("five")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("six")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["one", "two", "three", "three again", "four", "five", "six"]
    assert lines[0] == {**lines[0], "level": "debug", "logger": "t", "run": 3, "n": 1}
    assert "timestamp" in lines[0] and "ValueError: boom" in lines[-1]["exception"]


def test_console_lines_respect_the_threshold_and_quiet() -> None:
    stream = io.StringIO()
    ap_logging.configure_logging("info", "console", stream=stream)
    log = ap_logging.get_logger("ap")
    assert log.debug("hidden") is None
    log.info("shown", k="v")
    assert "hidden" not in stream.getvalue() and "shown" in stream.getvalue() and "k=v" in stream.getvalue()
    ap_logging.configure_logging("DEBUG", quiet=True, stream=stream)  # structlog already in use: applied now
    log.info("quiet")
    ap_logging.configure_logging("ERROR", stream=stream)
    log.warning("not at ERROR")
    log.error("at ERROR")
    ap_logging.configure_logging("CRITICAL", stream=stream)
    assert log.exception("below CRITICAL") is None
    text = stream.getvalue()
    assert "quiet" not in text and "CRITICAL" not in text and "not at ERROR" not in text and "at ERROR" in text


SCRIPT = """
import sys
from audio_playground.logging import configure_logging, get_logger
configure_logging("WARNING")
get_logger("ap").info("below the threshold")
before = "structlog" in sys.modules
get_logger("ap").warning("written")
print(before, "structlog" in sys.modules, "rich" in sys.modules)
"""


def test_structlog_loads_on_the_first_written_line_and_without_rich() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "True", "False"]
    assert "written" in result.stderr and "below the threshold" not in result.stderr
