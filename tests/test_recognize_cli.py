"""`python -m voicecoach.app.recognize`: many files, one model, JSON lines, errors that continue."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from speech_audio import needs_espeak, speak, write_wav

from voicecoach.app.recognize import read_wav

pytestmark = [needs_espeak, pytest.mark.slow]  # slow: runs the recognizer as a process
REPO = Path(__file__).resolve().parents[1]


def recognize(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "voicecoach.app.recognize", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=120)


def test_json_lines_for_many_files_with_one_missing(tmp_path):
    stop = speak("stop", tmp_path / "stop.wav")
    chatter = speak("the weather is nice today", tmp_path / "chatter.wav")
    # A stereo 44.1 kHz file: downmixed and resampled on the way in; the command
    # starts 1 s into the file.
    mono = read_wav(speak("say that again", tmp_path / "p.wav"), 44100)
    lead = np.zeros(44100, np.int16)
    x = np.concatenate([lead, mono])
    stereo = write_wav(tmp_path / "again_stereo.wav", np.repeat(x, 2), rate=44100, channels=2)
    missing = tmp_path / "missing.wav"
    proc = recognize("--engine", "sphinx", "--json", str(stop), str(missing), str(chatter),
                     str(stereo))
    assert proc.returncode == 1
    assert "missing.wav" in proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(d["file"], d["command"]) for d in lines] == [(str(stop), "stop"),
                                                         (str(stereo), "repeat")]
    for d in lines:
        assert set(d) == {"file", "command", "heard", "start", "end", "emitted"}
        assert 0 <= d["start"] < d["end"] <= d["emitted"]
    # Times restart at each file's beginning.
    assert lines[0]["start"] < 0.3
    assert 0.9 < lines[1]["start"] < 1.3


def test_plain_text_output(tmp_path):
    wav = speak("next", tmp_path / "next.wav")
    proc = recognize("--engine", "sphinx", str(wav))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") == 1
    assert "next" in proc.stdout.split("\t")[2]


def test_missing_vosk_model_is_a_clear_error(tmp_path):
    wav = speak("next", tmp_path / "next.wav")
    proc = recognize("--engine", "vosk", "--model", str(tmp_path / "nomodel"), str(wav))
    assert proc.returncode == 2
    assert "voicecoach models download" in proc.stderr
    assert proc.stdout == ""


def test_times_never_fall_before_the_file_began():
    from voicecoach.app.recognize import _shift
    from voicecoach.core.commands import Command
    from voicecoach.voice.base import Heard

    # The endpointer's window can put a word's start a hair before the file's first sample.
    h = _shift(Heard(Command("stop"), "stop", 9.9996, 10.5, 10.9, 1.0), -10.0)
    assert (h.start, h.end, h.emitted) == (0.0, 0.5, 0.9)
    assert str(h.start) == "0.0"
