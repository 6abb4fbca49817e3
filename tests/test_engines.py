"""One engine choice for run, serve, doctor and recognize; engines that cannot start say
why and how to fix it; `recognize` judges each file on its own."""

from __future__ import annotations

import argparse
import builtins
import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from speech_audio import needs_espeak, speak, write_wav

from voicecoach.app import doctor, recognize, serve, settings
from voicecoach.app import run as app
from voicecoach.config import Config, load_config
from voicecoach.voice import engines, models, syslibs
from voicecoach.voice.command_whisper import CommandWhisperRecognizer
from voicecoach.voice.sphinx_engine import SphinxRecognizer

REPO = Path(__file__).resolve().parents[1]
LIBATOMIC_ERROR = ("cannot load library '/venv/lib/python3.11/site-packages/vosk/libvosk.so': "
                   "libatomic.so.1: cannot open shared object file: No such file or directory")
MODEL_FILES = ("am/final.mdl", "conf/model.conf", "conf/mfcc.conf", "graph/HCLr.fst", "graph/Gr.fst")


@pytest.fixture(autouse=True)
def own_models(private_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty models folder of the test's own; the checkout's models/ does not count."""
    folder = tmp_path / "models"
    monkeypatch.setenv("VOICECOACH_MODELS", str(folder))
    monkeypatch.setattr(models, "REPO_MODELS_DIR", tmp_path / "no-repo-models")
    monkeypatch.setattr(app, "_ANNOUNCED", set())
    return folder


def make_model(folder: Path, parts: tuple[str, ...] = MODEL_FILES) -> Path:
    for part in parts:
        (folder / part).parent.mkdir(parents=True, exist_ok=True)
        (folder / part).write_text("stand-in")
    return folder


def fail_import(monkeypatch: pytest.MonkeyPatch, module: str, error: BaseException) -> None:
    """Make `import module` raise `error`, as a broken install would."""
    real_import = builtins.__import__

    def importer(name: str, *args: object, **kwargs: object) -> object:
        if name == module or name.startswith(module + "."):
            raise error
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", importer)


# -- one list of engines -------------------------------------------------------------------


def test_every_engine_name_comes_from_the_registry() -> None:
    from voicecoach import config
    from voicecoach.voice import engine_names

    assert tuple(engines.ENGINES) == engine_names.ENGINE_NAMES
    assert config.ENGINES == engine_names.ENGINE_CHOICES == ("auto", *engines.ENGINES, "text")
    assert ("auto", *engines.ENGINES) == engine_names.AUDIO_CHOICES
    assert set(engines.AUTO_ORDER) <= set(engines.ENGINES)
    assert engines.AUTO_ORDER == ("vosk", "whisper", "sphinx")
    assert engines.AUTO_ORDER[1:] == engines.FALLBACK_ORDER  # what needs nothing downloaded
    parser = argparse.ArgumentParser()
    recognize.add_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--engine", "text", "x.wav"])  # typing cannot hear a file


def test_the_documented_text_engine_is_not_a_doctor_failure() -> None:
    config = load_config(None, {"speech.engine": "text"}).config
    for check in (doctor.check_engine(config), doctor.check_model(config)):
        assert check.status == doctor.OK, check
        assert "text" in check.detail


def test_an_added_engine_is_one_registry_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    class Made(SphinxRecognizer):
        name = "made"

    def start(request: engines.Request) -> SphinxRecognizer:
        return Made(phrases=request.phrases)

    entry = engines.Engine("made", "made-up", start, install="pip install made")
    monkeypatch.setitem(engines.ENGINES, "made", entry)
    monkeypatch.setattr(engines, "AUTO_ORDER", ("vosk", "made", "sphinx"))
    choice = engines.choose("auto")
    assert choice.engine == "made" and isinstance(choice.recognizer, Made)
    assert [name for name, _ in choice.failures] == ["vosk"]
    # No vosk model is not a fault: a note only when the engine used is the weaker one.
    assert choice.notes == [] and choice.spoken is None


# -- an engine that cannot start says why, with the fix ------------------------------------


def test_a_missing_system_library_names_the_package_everywhere(
    own_models: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    make_model(own_models / "vosk-model-small-en-us-0.15")
    fail_import(monkeypatch, "vosk", OSError(LIBATOMIC_ERROR))

    check = doctor.check_engine(Config())
    assert check.status == doctor.WARN
    assert "libatomic.so.1 is missing" in check.detail and check.detail.startswith("whisper loaded")
    assert check.fix == "sudo apt install libatomic1"

    # run: printed and said aloud once, then the next engine listens.
    recognizer, notes, spoken = app.open_engine("auto", None)
    assert isinstance(recognizer, CommandWhisperRecognizer)
    [note] = notes
    assert note == ("The vosk speech engine cannot start: the system library libatomic.so.1 is "
                    "missing. Fix: sudo apt install libatomic1. Using the Whisper engine instead.")
    assert spoken is not None and "system library is missing" in spoken and "`" not in spoken
    assert app.first_time(spoken) and not app.first_time(spoken)

    # serve: the same note, for the idle grammar.
    recognizer, idle_note = serve.make_idle_recognizer("auto", None, {"start tiny": "resume"})
    assert isinstance(recognizer, CommandWhisperRecognizer) and idle_note == note

    # recognize: one line, then the next engine; asked for vosk by name, exit 2.
    args = argparse.Namespace(engine="vosk", model=None, json=False, wav=["unused.wav"])
    assert recognize.run(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sudo apt install libatomic1" in err and "Traceback" not in err


def test_a_named_engine_that_cannot_start_is_a_doctor_failure_with_its_fix(
    own_models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_model(own_models / "vosk-model-small-en-us-0.15")
    fail_import(monkeypatch, "vosk", OSError(LIBATOMIC_ERROR))
    check = doctor.check_engine(load_config(None, {"speech.engine": "vosk"}).config)
    assert check.status == doctor.FAIL and "libatomic.so.1 is missing" in check.detail
    assert check.fix == 'sudo apt install libatomic1, or set [speech] engine = "auto"'


def test_a_python_package_that_is_not_installed(own_models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_model(own_models / "vosk-model-small-en-us-0.15")
    fail_import(monkeypatch, "vosk", ModuleNotFoundError("No module named 'vosk'", name="vosk"))
    check = doctor.check_engine(Config())
    assert check.status == doctor.WARN and "the Python package vosk is not installed" in check.detail
    assert check.fix == "install it: ./install.sh (or pip install vosk)"
    assert "engine = " not in check.fix  # it already is auto


def test_an_incomplete_model_says_which_part_is_missing_and_how_to_replace_it(
    own_models: Path,
) -> None:
    partial = make_model(own_models / "vosk-model-small-en-us-0.15", ("am/final.mdl", "conf/model.conf"))
    assert models.model_problem(partial) == "incomplete: graph/HCLG.fst or graph/HCLr.fst missing"
    fix = "run `voicecoach models download vosk-model-small-en-us-0.15 --force`"
    check = doctor.check_model(Config())
    assert check.status == doctor.FAIL and str(partial) in check.detail and check.fix == fix
    check = doctor.check_engine(Config())
    assert check.status == doctor.WARN and "incomplete" in check.detail and check.fix == fix
    recognizer, notes = app.open_recognizer("auto", None)
    assert isinstance(recognizer, CommandWhisperRecognizer)
    assert "is incomplete: graph/HCLG.fst or graph/HCLr.fst missing. Fix: " + fix in notes[0]


def test_a_damaged_model_that_vosk_cannot_load(own_models: Path) -> None:
    pytest.importorskip("vosk")
    damaged = make_model(own_models / "my-model")  # the right files, but not a model inside
    check = doctor.check_engine(Config())
    assert check.status == doctor.WARN and "vosk could not load the model" in check.detail
    assert check.fix == f"delete {damaged} and run `voicecoach models download` (or unpack the model again)"


def test_no_model_at_all_is_a_quiet_fallback(own_models: Path) -> None:
    choice = engines.choose("auto")
    assert choice.engine == "whisper" and choice.spoken is None and choice.notes == []


def test_without_whisper_auto_says_how_to_hear_more_commands(
    own_models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = ModuleNotFoundError("No module named 'ctranslate2'", name="ctranslate2")
    fail_import(monkeypatch, "ctranslate2", missing)
    choice = engines.choose("auto")
    assert choice.engine == "sphinx"
    assert choice.notes[0].startswith("The Whisper speech engine cannot start: the Python package ctranslate2")
    monkeypatch.setattr(engines, "AUTO_ORDER", ("vosk", "sphinx"))
    choice = engines.choose("auto")
    assert choice.engine == "sphinx" and choice.spoken is None
    assert choice.notes == [
        f"No vosk model found in {own_models}: using the bundled PocketSphinx engine, which "
        "recognizes fewer commands. For better accuracy run `voicecoach models download`."]


def test_loader_errors_name_the_library_and_the_package() -> None:
    assert syslibs.missing_library(OSError(LIBATOMIC_ERROR)) == "libatomic.so.1"
    assert syslibs.missing_library("libportaudio.so.2: cannot open shared object file") == "libportaudio.so.2"
    assert syslibs.missing_library(OSError("disk full")) is None
    assert syslibs.apt_install("libespeak-ng.so.1") == "sudo apt install libespeak-ng1"
    assert "apt-file search libfoo.so.3" in syslibs.apt_install("libfoo.so.3")


@needs_espeak
def test_recognize_reports_a_library_the_loader_cannot_find_in_one_line(tmp_path: Path, own_models: Path) -> None:
    """For real: a vosk whose import asks the dynamic loader for a library that is not there."""
    make_model(own_models / "vosk-model-small-en-us-0.15")
    fake = tmp_path / "site" / "vosk"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('import ctypes\nctypes.CDLL("libvoicecoach-absent.so.1")\n')
    wav = speak("stop", tmp_path / "stop.wav")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    proc = subprocess.run([sys.executable, "-m", "voicecoach.app.recognize", str(wav)], capture_output=True,
                          text=True, cwd=REPO, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "the system library libvoicecoach-absent.so.1 is missing" in proc.stderr
    assert "apt-file search libvoicecoach-absent.so.1" in proc.stderr
    assert proc.stdout.split("\t")[2] == "stop"


def test_serve_says_a_broken_engine_once(own_models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_model(own_models / "vosk-model-small-en-us-0.15")
    fail_import(monkeypatch, "vosk", OSError(LIBATOMIC_ERROR))
    err = io.StringIO()
    server = serve.Server(settings.build(), out=io.StringIO(), err=err)
    server.config = Config()
    server.menu.phrases = lambda: {"start tiny": "resume"}  # type: ignore[method-assign]
    server._ensure_recognizer()
    assert server._announce is not None and "system library is missing" in server._announce
    assert "sudo apt install libatomic1" in err.getvalue()
    server._announce = None
    server.menu.phrases = lambda: {"start knees": "resume"}  # type: ignore[method-assign]
    server._ensure_recognizer()  # new phrases, same broken engine: printed, not said again
    assert server._announce is None and err.getvalue().count("libatomic1") == 2


# -- recognize judges each file on its own -------------------------------------------------

# Commands and chatter, in different voices, speeds and loudness, with some room noise:
# enough variety that a listener adapting from one file to the next answers differently.
CLIPS = [("next", "en-us", 175, 1.0), ("pause", "en-gb", 150, 0.3), ("stop", "en-us+f2", 200, 2.0),
         ("say that again", "en-us+m3", 160, 0.5), ("go", "en-gb+f3", 170, 1.5),
         ("keep going", "en-us", 140, 0.2), ("the weather is nice", "en-us+f4", 180, 1.0),
         ("resume", "en-gb+m2", 190, 0.7), ("skip", "en-us+f1", 175, 0.4), ("no", "en-us", 175, 1.0),
         ("done", "en-gb", 160, 2.5), ("repeat", "en-us+m1", 150, 0.25)]


@needs_espeak
@pytest.mark.slow  # seconds of real audio or subprocesses: the full suite runs it
def test_each_file_gets_the_same_answer_in_any_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(1)
    files = []
    for i, (text, voice, rate, gain) in enumerate(CLIPS):
        x = recognize.read_wav(speak(text, tmp_path / f"raw{i}.wav", voice=voice, rate=rate)) * gain
        x = np.concatenate([np.zeros(8000), x, np.zeros(4000)])
        x = x + rng.normal(0, 30 * gain, len(x))
        files.append(str(write_wav(tmp_path / f"{i}.wav", np.clip(x, -32768, 32767))))

    def answers(order: list[str]) -> dict[str, list[tuple[str, float]]]:
        args = argparse.Namespace(engine="sphinx", model=None, json=True, wav=order)
        assert recognize.run(args) == 0
        found: dict[str, list[tuple[str, float]]] = {f: [] for f in order}
        for line in capsys.readouterr().out.splitlines():
            d = json.loads(line)
            found[d["file"]].append((d["heard"], d["start"]))
        return found

    first = answers(files)
    assert sum(bool(v) for v in first.values()) >= 6  # the engine does hear most commands
    for seed in (1, 2):
        order = files[:]
        random.Random(seed).shuffle(order)
        assert answers(order) == first
    assert answers(files[::-1]) == first
    for alone in (files[0], files[2]):
        assert answers([alone])[alone] == first[alone]


def test_run_prints_the_notes_and_says_a_broken_engine_once() -> None:
    from test_mic_loss import SpeakerSpy

    speaker = SpeakerSpy()
    spoken = "The vosk speech engine cannot start: a system library is missing."
    voice = app.Voice(speaker, None, "audio", ["The vosk speech engine cannot start: ..."], announce=spoken)
    err = io.StringIO()
    app.tell_notes(voice, err)
    app.tell_notes(voice, err)  # a second session in the same process (serve)
    assert speaker.said == [spoken]
    assert err.getvalue().count("cannot start") == 2


def test_an_engine_asked_for_by_name_is_explained_even_when_merely_not_set_up(
    own_models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = argparse.Namespace(engine="vosk", model=None, json=False, wav=["unused.wav"])
    assert recognize.run(args) == 2
    err = capsys.readouterr().err
    assert err == (f"voicecoach: The vosk speech engine cannot start: no vosk model found in {own_models}. "
                   "Fix: run `voicecoach models download`.\n")
    recognizer, notes = app.open_recognizer("vosk", None)  # a session falls back, saying why
    assert isinstance(recognizer, CommandWhisperRecognizer) and notes[0].startswith("The vosk speech engine cannot")
