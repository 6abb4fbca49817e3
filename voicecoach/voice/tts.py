"""Text to speech audio: render a phrase to int16 mono samples, with pyttsx3 or the
espeak-ng command, and keep every rendering so count words cost nothing at the moment
they are due.

We only ever *render* here; playing is `playback.py`'s job.  pyttsx3's own playback
blocks, cannot be cut off and gives no timing, and its Linux driver has state bugs
(after `save_to_file` the next renders in the same process come out a few
milliseconds different each time, and now and then as an empty file; it also
prints to stdout).  So pyttsx3 runs in a worker process of its own that only
saves WAV files, which we check and read back.

Run as `python -m voicecoach.voice.tts --pyttsx3-worker` it is that worker.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import wave
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from voicecoach.voice.devices import AudioUnavailable
from voicecoach.voice.resample import resample, to_int16
from voicecoach.voice.speech_text import number_word, speakable, split_pieces
from voicecoach.voice.wavfile import WavError, decode_wav, wav_bytes

DEFAULT_VOICE = "en-us"
DEFAULT_RATE = 165  # words per minute: espeak's 175 is brisk for someone mid-exercise
DEFAULT_VOLUME = 1.0

# Silence below this level (int16) is trimmed from both ends of a rendering, so a
# count starts on its beat and the microphone gate is not held shut by espeak's
# ~0.35 s trailing pause.
_SILENCE_LEVEL = 64
_KEEP_SILENCE = 0.02  # seconds kept at each end, so the cut never clicks
# Pauses put back between the pieces of a text rendered piece by piece (seconds): what a
# speaker leaves after a full stop, and after a comma.
SENTENCE_GAP = 0.3
CLAUSE_GAP = 0.12

__all__ = ["Audio", "Renderer", "Tts", "TtsError", "VoiceSettings", "count_phrases", "make_renderer",
           "number_word", "parse_wav", "trim_silence"]


class TtsError(AudioUnavailable):
    """Speech could not be rendered; the message says why and what to do.

    A kind of `AudioUnavailable`, so callers can fall back to text mode with one except.
    """


@dataclass(frozen=True)
class Audio:
    """Rendered speech: int16 mono samples at `rate` hertz."""

    samples: np.ndarray
    rate: int

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.rate


@dataclass(frozen=True)
class VoiceSettings:
    """How the coach sounds."""

    voice: str | None = DEFAULT_VOICE
    """espeak-ng voice name (`espeak-ng --voices`), or None for the engine default."""
    rate: int = DEFAULT_RATE
    """Speaking rate (words per minute)."""
    volume: float = DEFAULT_VOLUME
    """Gain applied to the rendered audio (0.0-2.0; 1.0 leaves espeak's level alone)."""


class Renderer(ABC):
    """One text-to-speech backend: text in, audio out.  Not thread-safe; `Tts` locks."""

    name: str
    piece_wise: bool = False
    """Render a long text a sentence (or clause) at a time, so playing can start after the
    first piece: for engines that take a noticeable fraction of the speech's length."""

    @abstractmethod
    def render(self, text: str) -> Audio:
        """Render `text` at the settings given when the renderer was made."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release any helper process."""


def parse_wav(data: bytes) -> Audio:
    """Decode an engine's WAV output (any PCM width, any channels) to int16 mono."""
    try:
        frames, rate = decode_wav(data)
    except WavError as exc:
        raise TtsError(f"the speech engine's output is not usable audio: {exc}") from exc
    return Audio(to_int16(frames.mean(axis=1)), rate)


def trim_silence(audio: Audio) -> Audio:
    """Cut leading and trailing near-silence, keeping a few milliseconds at each end."""
    loud = np.flatnonzero(np.abs(audio.samples.astype(np.int32)) > _SILENCE_LEVEL)
    if len(loud) == 0:
        return Audio(audio.samples[:0].copy(), audio.rate)
    keep = int(_KEEP_SILENCE * audio.rate)
    lo = max(0, loud[0] - keep)
    hi = min(len(audio.samples), loud[-1] + 1 + keep)
    return Audio(audio.samples[lo:hi].copy(), audio.rate)


class EspeakNgRenderer(Renderer):
    """Renders with the `espeak-ng` command, one short process per phrase (~10 ms)."""

    name = "espeak-ng"

    def __init__(self, settings: VoiceSettings = VoiceSettings(),
                 command: str = "espeak-ng") -> None:
        path = shutil.which(command)
        if path is None:
            raise TtsError(
                f"'{command}' was not found. Install it (Debian/Raspberry Pi OS: "
                "sudo apt install espeak-ng) or choose another speaker (--speaker print)."
            )
        self.command = path
        self.settings = settings

    def render(self, text: str) -> Audio:
        args = [self.command, "--stdout", "-s", str(int(self.settings.rate))]
        if self.settings.voice:
            args += ["-v", self.settings.voice]
        # Text goes in on stdin so a phrase starting with "-" is never read as an option.
        try:
            proc = subprocess.run(args, input=text.encode("utf-8"), capture_output=True,
                                  timeout=30, check=False)
        except subprocess.TimeoutExpired as exc:
            raise TtsError(f"espeak-ng took too long to render {text!r}") from exc
        err = proc.stderr.decode("utf-8", "replace").strip()
        if proc.returncode != 0 or len(proc.stdout) <= 44:
            # espeak-ng exits 0 with an empty stdout for an unknown voice.
            raise TtsError(f"espeak-ng could not render {text!r}: {err or 'no audio'}"
                           + (f" (voice {self.settings.voice!r}; see `espeak-ng --voices`)"
                              if "voice" in err else ""))
        return parse_wav(proc.stdout)


class Pyttsx3Renderer(Renderer):
    """Renders with pyttsx3's `save_to_file` in a long-lived worker process.

    The worker renders each phrase, checks the file is a non-empty WAV and retries
    once if not; a worker that dies or hangs is killed and replaced on the next phrase.
    """

    name = "pyttsx3"

    def __init__(self, settings: VoiceSettings = VoiceSettings(), timeout: float = 20.0) -> None:
        try:
            import pyttsx3  # noqa: F401 - only to fail early with a clear message
        except ImportError as exc:
            raise TtsError("pyttsx3 is not installed: pip install pyttsx3, "
                           "or choose --speaker espeak-ng") from exc
        self.settings = settings
        self.timeout = timeout
        self._dir = tempfile.mkdtemp(prefix="voicecoach-tts-")
        self._proc: subprocess.Popen[str] | None = None
        self._replies: queue.Queue[str | None] = queue.Queue()
        self._count = 0
        self._start_worker()

    def _start_worker(self) -> None:
        self._replies = queue.Queue()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "voicecoach.voice.tts", "--pyttsx3-worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, bufsize=1,
        )
        replies = self._replies
        stdout = self._proc.stdout

        def pump() -> None:
            assert stdout is not None
            for line in stdout:
                replies.put(line)
            replies.put(None)  # the worker is gone

        threading.Thread(target=pump, name="pyttsx3-replies", daemon=True).start()
        reply = self._ask({"op": "hello", "voice": self.settings.voice,
                           "rate": int(self.settings.rate)})
        if not reply.get("ok"):
            self.close()
            raise TtsError(f"pyttsx3 could not start: {reply.get('error')}")

    def _ask(self, request: dict[str, object]) -> dict[str, object]:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            raise TtsError("the pyttsx3 worker is not running")
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise TtsError(f"the pyttsx3 worker stopped: {self._stderr_tail()}") from exc
        try:
            line = self._replies.get(timeout=self.timeout)
        except queue.Empty as exc:
            self._kill()
            raise TtsError(f"pyttsx3 did not answer within {self.timeout:.0f} s") from exc
        if line is None:
            self._kill()
            raise TtsError(f"the pyttsx3 worker stopped: {self._stderr_tail()}")
        return json.loads(line)

    def _stderr_tail(self) -> str:
        proc = self._proc
        if proc is None or proc.stderr is None or proc.poll() is None:
            return "no details"
        text = proc.stderr.read().strip()
        return text.splitlines()[-1] if text else f"exit code {proc.returncode}"

    def render(self, text: str) -> Audio:
        if self._proc is None or self._proc.poll() is not None:
            self._start_worker()
        self._count += 1
        path = os.path.join(self._dir, f"{self._count}.wav")
        reply = self._ask({"op": "render", "text": text, "path": path})
        if not reply.get("ok"):
            raise TtsError(f"pyttsx3 could not render {text!r}: {reply.get('error')}")
        try:
            with open(path, "rb") as f:
                return parse_wav(f.read())
        finally:
            with contextlib.suppress(OSError):
                os.remove(path)

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.close()  # EOF: the worker exits by itself
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self._dir, ignore_errors=True)


def make_renderer(backend: str, settings: VoiceSettings = VoiceSettings()) -> Renderer:
    """A renderer for "pyttsx3" or "espeak-ng"."""
    if backend == "pyttsx3":
        return Pyttsx3Renderer(settings)
    if backend == "espeak-ng":
        return EspeakNgRenderer(settings)
    raise ValueError(f"unknown speech backend {backend!r} (use pyttsx3 or espeak-ng)")


@dataclass
class _Job:
    """A text being rendered piece by piece; whoever asks for the next piece renders it."""

    texts: list[tuple[str, bool]]
    audio: list[Audio] = field(default_factory=list)
    busy: bool = False
    cond: threading.Condition = field(default_factory=threading.Condition)


class Tts:
    """A renderer plus a cache: each distinct phrase is rendered once.

    Audio comes back trimmed of edge silence, scaled by the volume and converted to
    `out_rate` (the output device's rate) when one is set, so a cached count word
    is ready to hand to the device as is.  Text is spelled out for speaking first
    (`speech_text.speakable`).  Thread-safe: a phrase asked for by two threads at once
    (one saying it, one rendering ahead) is rendered once, each piece by whichever
    thread gets to it first.
    """

    def __init__(self, renderer: Renderer, volume: float = DEFAULT_VOLUME,
                 out_rate: int | None = None, max_entries: int = 1000) -> None:
        if not 0.0 <= volume <= 2.0:
            raise ValueError("volume must be between 0.0 and 2.0")
        self.renderer = renderer
        self.volume = volume
        self.max_entries = max_entries
        self._out_rate = out_rate
        self._cache: OrderedDict[str, Audio] = OrderedDict()
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()  # the cache and the jobs
        self._engine = threading.Lock()  # the renderer, which is not thread-safe
        # Rendering ahead gives way to rendering for speech that is due now.
        self._urgent = 0
        self._urgent_done = threading.Condition(self._lock)
        self.hits = 0
        self.misses = 0
        self.render_seconds = 0.0
        """Total wall time spent rendering (for the report and benchmarks)."""

    @property
    def out_rate(self) -> int | None:
        return self._out_rate

    @out_rate.setter
    def out_rate(self, rate: int | None) -> None:
        with self._lock:
            if rate != self._out_rate:
                self._out_rate = rate
                self._cache.clear()
                self._jobs.clear()

    def render(self, text: str) -> Audio:
        """The audio for `text`, from the cache when it was rendered before."""
        parts = [audio for audio, _last in self.stream(text)]
        return parts[0] if len(parts) == 1 else _concat(parts)

    def stream(self, text: str, background: bool = False) -> Iterator[tuple[Audio, bool]]:
        """The audio for `text` as it becomes ready: (piece, is_last) pairs.

        A cached phrase is one piece.  With a piece-wise renderer a long text comes a
        sentence or clause at a time, each followed by its pause, so it can start playing
        while the rest renders; the whole is cached once its last piece is done.
        `background` renders only while nothing is waiting to be said.
        """
        key = " ".join(text.split())
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                self.hits += 1
            elif not key:
                hit = Audio(np.zeros(0, dtype=np.int16), self._out_rate or 22050)
            else:
                job = self._jobs.get(key)
                if job is None:
                    self.misses += 1
                    spoken = speakable(key)
                    texts = split_pieces(spoken) if self.renderer.piece_wise else [(spoken, True)]
                    job = self._jobs[key] = _Job(texts or [(spoken, True)])
        if hit is not None:
            yield hit, True
            return
        for i in range(len(job.texts)):
            yield self._piece(key, job, i, background), i == len(job.texts) - 1

    def _piece(self, key: str, job: _Job, i: int, background: bool) -> Audio:
        with job.cond:
            while i >= len(job.audio) and job.busy:
                job.cond.wait()
            if i < len(job.audio):
                return job.audio[i]
            job.busy = True
        try:
            audio = self._render_piece(job, i, background)
        except BaseException:
            with job.cond:
                job.busy = False
                job.cond.notify_all()
            raise
        with job.cond:
            job.audio.append(audio)
            job.busy = False
            job.cond.notify_all()
            complete = len(job.audio) == len(job.texts)
        if complete:
            with self._lock:
                if self._jobs.get(key) is job:
                    del self._jobs[key]
                    self._cache[key] = _concat(job.audio)
                    while len(self._cache) > self.max_entries:
                        self._cache.popitem(last=False)
        return audio

    def _render_piece(self, job: _Job, i: int, background: bool) -> Audio:
        text, ends_sentence = job.texts[i]
        with self._lock:
            if background:
                while self._urgent:
                    self._urgent_done.wait()
            else:
                self._urgent += 1
        try:
            with self._engine:
                t0 = time.monotonic()
                audio = self._finish(self.renderer.render(text))
                self.render_seconds += time.monotonic() - t0
        finally:
            if not background:
                with self._lock:
                    self._urgent -= 1
                    self._urgent_done.notify_all()
        if i < len(job.texts) - 1:
            gap = np.zeros(int((SENTENCE_GAP if ends_sentence else CLAUSE_GAP) * audio.rate), dtype=np.int16)
            audio = Audio(np.concatenate([audio.samples, gap]), audio.rate)
        return audio

    def prepare(self, phrases: Iterable[str]) -> None:
        """Render every phrase now, so saying it later costs nothing."""
        for phrase in phrases:
            self.render(phrase)

    def is_cached(self, text: str) -> bool:
        with self._lock:
            return " ".join(text.split()) in self._cache

    def _finish(self, audio: Audio) -> Audio:
        audio = trim_silence(audio)
        samples = audio.samples.astype(np.float32)
        rate = audio.rate
        if self._out_rate and self._out_rate != rate:
            samples = resample(samples, rate, self._out_rate)
            rate = self._out_rate
        if self.volume != 1.0:
            samples = samples * self.volume
        return Audio(to_int16(samples), rate)

    def close(self) -> None:
        self.renderer.close()


def _concat(parts: list[Audio]) -> Audio:
    if len(parts) == 1:
        return parts[0]
    return Audio(np.concatenate([p.samples for p in parts]), parts[0].rate)


def count_phrases(up_to: int = 30) -> list[str]:
    """"one" .. `up_to`, the words the coach counts with; worth rendering up front."""
    return [number_word(i) for i in range(1, up_to + 1)]


# --- the pyttsx3 worker process -------------------------------------------------

def _pyttsx3_worker() -> int:
    """Serve render requests (JSON lines on stdin) until EOF; answer on stdout."""
    reply_stream = os.fdopen(os.dup(1), "w", buffering=1)
    # pyttsx3 prints "Audio saved to ..." on stdout: keep it off our reply channel.
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    try:
        import pyttsx3
        from pyttsx3.drivers import _espeak

        engine = pyttsx3.init()
    except Exception as exc:  # any failure here is reported to the parent verbatim
        error = f"{type(exc).__name__}: {exc}"
        reply_stream.write(json.dumps({"ok": False, "error": error}) + "\n")
        return 1

    def known_voice(name: str) -> bool:
        wanted = name.lower()
        for v in engine.getProperty("voices"):
            names = {str(v.id).lower(), str(v.name).lower(),
                     *(str(lang).lower() for lang in (v.languages or []))}
            if wanted in names or wanted in {n.split("/")[-1] for n in names}:
                return True
        return False

    settings: dict[str, object] = {}

    def render(text: str, path: str) -> str | None:
        for _attempt in range(3):
            with contextlib.suppress(OSError):
                os.remove(path)
            # pyttsx3 runs libespeak-ng asynchronously and its runAndWait can return while a
            # phrase is still being synthesized; a loaded machine then rendered the next phrase
            # at the engine's default rate or not at all. Draining espeak's queue before and
            # after each phrase makes every render start clean and end complete.
            _espeak.Synchronize()
            for name, value in settings.items():
                engine.setProperty(name, value)
            engine.save_to_file(text, path)
            engine.runAndWait()
            _espeak.Synchronize()
            try:
                with wave.open(path, "rb") as w:
                    if w.getnframes() > 0:
                        return None
            except (OSError, EOFError, wave.Error):
                pass
        return "pyttsx3 produced no audio"

    for line in sys.stdin:
        try:
            req = json.loads(line)
            if req["op"] == "hello":
                voice, rate = req.get("voice"), req.get("rate")
                if voice and not known_voice(voice):
                    raise ValueError(f"unknown voice {voice!r}; see `espeak-ng --voices`")
                if voice:
                    settings["voice"] = voice
                if rate:
                    settings["rate"] = int(rate)
                # The first runAndWait after init returns before the work is done;
                # spend it on a throwaway phrase so real renders never meet it.
                warm = os.path.join(tempfile.gettempdir(), f"voicecoach-warm-{os.getpid()}.wav")
                render("ready", warm)
                with contextlib.suppress(OSError):
                    os.remove(warm)
                reply: dict[str, object] = {"ok": True}
            else:
                error = render(req["text"], req["path"])
                reply = {"ok": error is None, "error": error}
        except Exception as exc:  # reported to the parent, which raises TtsError
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        reply_stream.write(json.dumps(reply) + "\n")
    return 0


def audio_to_wav_bytes(audio: Audio) -> bytes:
    """Encode audio as a 16-bit mono WAV (for tests and debugging)."""
    return wav_bytes(audio.samples, audio.rate)


if __name__ == "__main__":
    if sys.argv[1:] == ["--pyttsx3-worker"]:
        sys.exit(_pyttsx3_worker())
    sys.exit("usage: python -m voicecoach.voice.tts --pyttsx3-worker")
