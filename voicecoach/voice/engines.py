"""Pick and start a speech engine: vosk when a model is found, else bundled PocketSphinx.

Whisper (an optional extra) runs only when asked for by name."""

from __future__ import annotations

from pathlib import Path

from voicecoach.voice.recognizer import Recognizer

ENGINES = ("auto", "vosk", "sphinx", "whisper")

# The repository's models/ folder (next to the voicecoach package) and the user's.
REPO_MODELS = Path(__file__).resolve().parents[2] / "models"
USER_MODELS = Path.home() / ".local" / "share" / "voicecoach" / "models"

FALLBACK_NOTE = (
    "No vosk model found: using the bundled PocketSphinx engine, which recognizes "
    "fewer commands. For better accuracy run `voicecoach models download`."
)


class EngineUnavailable(RuntimeError):
    """A speech engine cannot start; the message says what is missing and what to do."""


def find_model(model_dir: str | Path | None = None) -> Path | None:
    """The vosk model to use: `model_dir` if given, else the first one in the model folders.

    A folder that holds models (rather than being one) is searched one level down,
    in name order, so `models/vosk-model-small-en-us-0.15/` is found from `models/`.
    """
    from voicecoach.voice.vosk_engine import is_vosk_model

    candidates = [Path(model_dir)] if model_dir is not None else [REPO_MODELS, USER_MODELS]
    for folder in candidates:
        folder = folder.expanduser()
        if is_vosk_model(folder):
            return folder
        if folder.is_dir():
            for child in sorted(folder.iterdir()):
                if child.is_dir() and is_vosk_model(child):
                    return child
    return None


def make_recognizer(
    engine: str = "auto", model_dir: str | Path | None = None
) -> tuple[Recognizer, str | None]:
    """Start a recognizer; return it and a one-line note for the user (or None).

    `auto` prefers vosk with a found model, else falls back to PocketSphinx with a
    note.  `vosk`, `sphinx` and `whisper` insist on that engine and raise
    EngineUnavailable; for `whisper`, `model_dir` is a faster-whisper model folder.
    """
    if engine not in ENGINES:
        raise EngineUnavailable(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if engine == "whisper":
        return whisper(model_dir), None
    if engine in ("auto", "vosk"):
        found = find_model(model_dir)
        if found is not None:
            return _vosk(found), None
        if engine == "vosk" or model_dir is not None:
            where = str(model_dir) if model_dir is not None else f"{REPO_MODELS} or {USER_MODELS}"
            raise EngineUnavailable(
                f"no vosk model in {where}: run `voicecoach models download` "
                "or pass --model DIR pointing at an unpacked vosk model"
            )
    if engine == "auto":
        try:
            return whisper(), None
        except EngineUnavailable:
            pass
    recognizer = _sphinx()
    return recognizer, (FALLBACK_NOTE if engine == "auto" else None)


def _vosk(model: Path) -> Recognizer:
    from voicecoach.voice.vosk_engine import VoskRecognizer, VoskUnavailable

    try:
        return VoskRecognizer(model)
    except VoskUnavailable as exc:
        raise EngineUnavailable(f"{exc}; try `voicecoach models download`") from exc


def _sphinx() -> Recognizer:
    try:
        from voicecoach.voice.sphinx_engine import SphinxRecognizer, SphinxUnavailable
    except ImportError as exc:  # numpy or the module itself missing
        raise EngineUnavailable(f"the bundled engine cannot load: {exc}") from exc
    try:
        return SphinxRecognizer()
    except SphinxUnavailable as exc:
        raise EngineUnavailable(f"{exc}; reinstall with `pip install pocketsphinx`") from exc


def whisper(model_dir: str | Path | None = None, phrases: dict[str, str] | None = None) -> Recognizer:
    """The optional Whisper engine, or EngineUnavailable saying how to install it."""
    try:
        from voicecoach.voice.command_whisper import CommandWhisperRecognizer, CommandWhisperUnavailable
    except ImportError as exc:  # numpy or the module itself missing
        raise EngineUnavailable(f"the Whisper engine cannot load: {exc}") from exc
    try:
        return CommandWhisperRecognizer(model_dir, phrases=phrases)
    except CommandWhisperUnavailable as exc:
        raise EngineUnavailable(str(exc)) from exc
