"""Inputs read strictly: typed bytes that are not UTF-8, pain scores typed oddly, and config
files that are deep, hold a NUL, start with a byte-order mark or are a folder."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_never_lose import coach_env, pycache, read_events, tiny_routine

from voicecoach.app.runner import EventLog
from voicecoach.config import ConfigError, load_config
from voicecoach.core import commands
from voicecoach.voice.typed import TypedListener

__all__ = ["pycache"]  # the shared bytecode-cache fixture, imported to be used here


def run_typed(home: Path, cache: Path, typed: bytes, *extra: str, env: dict[str, str] | None = None
              ) -> tuple[subprocess.CompletedProcess[bytes], list[dict]]:
    events = home / "events.jsonl"
    argv = [sys.executable, "-m", "voicecoach", "run", str(tiny_routine(home)), "--text", "--time-scale", "0.003",
            "--ready", "1", "--rest", "1", "--events", str(events), *extra]
    result = subprocess.run(argv, input=typed, capture_output=True, env=env or coach_env(home, cache), cwd=home,
                            timeout=60)
    return result, read_events(events)


@pytest.mark.parametrize("locale", ["C.UTF-8", "C"])
def test_a_typed_byte_that_is_not_utf8_neither_crashes_nor_ends_typed_input(tmp_path, pycache, locale):
    """Fault 4: `printf 'caf\\xe9\\n' | voicecoach run R --text --events ev.jsonl` crashed in
    the event log (C locale) or silently ended typed input (UTF-8 locale)."""
    env = coach_env(tmp_path, pycache)
    env.update(LC_ALL=locale, LANG=locale, PYTHONIOENCODING="")
    env.pop("PYTHONUTF8", None)
    result, records = run_typed(tmp_path, pycache, b"caf\xe9\n2\n", "--no-history", env=env)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert b"Traceback" not in result.stderr
    [unknown] = [r for r in records if r["type"] == "unknown"]
    assert unknown["text"].startswith("caf")
    # Typed input went on after the bad byte: the next line answered the check-in.
    assert [r["score"] for r in records if r["type"] == "pain_score"][:1] == [2]


def test_the_event_log_writes_lone_surrogates_as_escapes(tmp_path):
    log = EventLog(tmp_path / "ev.jsonl")
    log({"type": "unknown", "text": "caf\udce9"})
    log.close()
    raw = (tmp_path / "ev.jsonl").read_bytes()
    raw.decode("utf-8")  # valid UTF-8 throughout
    assert json.loads(raw)["text"] == "caf\udce9"


def test_the_typed_listener_replaces_undecodable_bytes():
    stream = io.TextIOWrapper(io.BytesIO(b"caf\xe9\nnext\n"), encoding="utf-8")
    unknown: list[str] = []
    heard: list[str] = []
    listener = TypedListener(stream, on_unknown=unknown.append)
    listener.start(lambda h: heard.append(h.command.name), lambda _reason: None)
    listener.join(5)
    assert unknown == ["caf\ufffd"] and heard == ["next"]


@pytest.mark.parametrize("typed, value", [("0", 0), ("7", 7), ("10", 10), ("seven", 7), ("7.", 7)])
def test_a_pain_score_is_plain_digits_or_words(typed, value):
    assert commands.parse(typed) == commands.Command("number", value)


@pytest.mark.parametrize("typed", ["-1", "007", "07", "+3", "11", "eleven", "1.5", "3/10"])
def test_a_pain_score_written_otherwise_is_no_number(typed):
    assert commands.parse(typed) is None


def test_odd_pain_scores_get_the_re_ask(tmp_path, pycache):
    result, records = run_typed(tmp_path, pycache, b"-1\n007\n4\n", "--no-history")
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert out.count("Say a number from 0 to 10, or say skip.") == 2
    assert [(r["when"], r["score"]) for r in records if r["type"] == "pain_score"][:1] == [("before", 4)]


# ----- the config file -----------------------------------------------------------------------


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "config.toml"
    path.write_bytes(data)
    return path


def test_a_deeply_nested_value_is_a_config_error_not_a_recursion_error(tmp_path):
    path = write(tmp_path, b"[coach]\nx = " + b"[" * 500 + b"]" * 500 + b"\n")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config(path)


@pytest.mark.parametrize("command", ["config", "plan", "run"])
def test_a_deeply_nested_value_gives_a_message_in_every_command(tmp_path, pycache, command):
    path = write(tmp_path, b"[coach]\nx = " + b"[" * 500 + b"]" * 500 + b"\n")
    argv = [sys.executable, "-m", "voicecoach", command]
    if command != "config":
        argv.append(str(tiny_routine(tmp_path)))
    argv += ["--config", str(path)] + (["--text"] if command == "run" else [])
    result = subprocess.run(argv, capture_output=True, text=True, env=coach_env(tmp_path, pycache), cwd=tmp_path,
                            stdin=subprocess.DEVNULL, timeout=60)
    assert result.returncode != 0 and "nested too deeply" in result.stderr
    assert "Traceback" not in result.stderr and "RecursionError" not in result.stderr


def test_a_nul_in_the_data_folder_is_a_config_error(tmp_path):
    path = write(tmp_path, b'[data]\nfolder = "a\\u0000b"\n')
    with pytest.raises(ConfigError, match=r"config.toml:2: data.folder: a path cannot hold a NUL"):
        load_config(path)


def test_a_byte_order_mark_at_the_start_is_accepted(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbf[coach]\nrest_seconds = 20\n")
    loaded = load_config(path)
    assert loaded.config.coach.rest_seconds == 20
    assert loaded.sources["coach.rest_seconds"].endswith("config.toml:2")


def test_a_folder_given_as_the_config_file_says_so(tmp_path):
    with pytest.raises(ConfigError, match="is a folder, not a config file"):
        load_config(tmp_path)
