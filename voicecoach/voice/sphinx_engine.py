"""The bundled English engine: PocketSphinx's wheel model, no download needed.

How it decides (chosen by measurement, see `benchmarks/recognition.py`):

* PocketSphinx's voice-activity endpointer cuts the stream into utterances, so a
  decision comes about 0.4 s after speech ends and the decoder only runs while
  someone speaks (listening to silence costs almost nothing).
* Each utterance is decoded with a JSGF grammar: any one command phrase, OR a loop
  of "garbage" words (counts and the coach's own vocabulary).  A closed grammar of
  commands alone is forced choice: the coach's "ten" came out as "done" and most
  other speech became some command.  The garbage loop gives that speech somewhere
  else to go; the heavy weight on the command branch keeps real commands winning.
* The whole utterance must be exactly one command phrase (`recognizer.decide`).

Two details matter a lot with this acoustic model: digital silence (exact zeros,
as synthetic audio and some gated microphones produce) wrecks its features, so a
faint fixed noise floor is added to every sample; and the lattice "bestpath" pass
is off because on short phrases it often returned a path ending mid-phrase.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import numpy as np

from voicecoach import commands
from voicecoach.voice.base import Heard
from voicecoach.voice.recognizer import AudioClock, Recognizer, decide, make_heard, phrase_table

log = logging.getLogger(__name__)

# Words the coach itself says (counts, cues) and other common short words.  Speech
# made of these decodes as garbage instead of being forced onto the nearest command.
GARBAGE_WORDS: tuple[str, ...] = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "fifteen", "twenty", "thirty", "exercise", "seconds", "hold", "rest",
    "leg", "knee", "good", "set", "side", "sit", "raise", "straight", "wall", "relax", "lift",
    "lower", "other", "breathe", "today", "nice", "work", "job", "left", "right", "up", "down",
    "on", "off", "okay", "hello", "well", "last", "get", "switch", "press", "take", "break",
    "almost", "half", "slowly", "your", "the",
)

# Weight of the command branch against the garbage loop in the grammar.  Measured on
# synthetic voices: 1 -> fewer commands right; 1000 -> a few more false triggers.
DEFAULT_COMMAND_WEIGHT = 100.0

# Standard deviation, in int16 units, of the noise floor added to the input (about
# -64 dBFS: inaudible, far below any room noise, but no frame is ever all zeros).
NOISE_FLOOR = 20.0

# Endpointer: a decision window of 0.2 s with 90% agreement.  Measured on two
# voices: 0.3 s -> latency median 510 / p95 560 ms; 0.2 s -> 416 / 472 ms with the
# same accuracy and false activations (the pauses inside two-word commands are
# shorter than that).
EP_WINDOW = 0.2
EP_RATIO = 0.9

# An utterance longer than this is not a bare command; stop decoding it (saves CPU
# on long chatter) and reject it when it ends.
MAX_UTTERANCE_S = 4.0


class SphinxUnavailable(RuntimeError):
    """PocketSphinx or its bundled model cannot be loaded."""


def jsgf_grammar(
    phrases: Iterable[str], garbage: Iterable[str], command_weight: float
) -> str:
    """A JSGF grammar: one command phrase, or one or more garbage words."""
    # Apostrophes are fine inside JSGF tokens for PocketSphinx ("i'm", "that's").
    cmd = " | ".join(sorted(set(phrases)))
    gbg = " | ".join(sorted(set(garbage)))
    if not gbg:
        return f"#JSGF V1.0;\ngrammar voicecoach;\npublic <s> = {cmd} ;\n"
    return (
        "#JSGF V1.0;\ngrammar voicecoach;\n"
        f"<cmd> = {cmd} ;\n<garbage> = {gbg} ;\n"
        f"public <s> = /{command_weight:g}/ <cmd> | /1/ <garbage>+ ;\n"
    )


class SphinxRecognizer(Recognizer):
    """Command recognizer on PocketSphinx's bundled US English model."""

    name = "sphinx"

    def __init__(
        self,
        *,
        phrases: Mapping[str, str] | Iterable[str] | None = None,
        garbage: Iterable[str] = GARBAGE_WORDS,
        command_weight: float = DEFAULT_COMMAND_WEIGHT,
        sample_rate: int = 16000,
        seed: int = 0,
    ) -> None:
        try:
            import pocketsphinx
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise SphinxUnavailable(
                "the pocketsphinx package is not installed: pip install pocketsphinx"
            ) from exc
        self.sample_rate = sample_rate
        self._table = phrase_table(phrases)
        config = pocketsphinx.Config(lm=None, loglevel="FATAL", bestpath=False,
                                     samprate=sample_rate)
        try:
            self._decoder = pocketsphinx.Decoder(config)
        except Exception as exc:
            raise SphinxUnavailable(f"PocketSphinx could not load its model: {exc}") from exc
        phrase_words = {w for p in self._table for w in p.split()}
        missing = sorted(w for w in phrase_words if self._decoder.lookup_word(w) is None)
        if missing:
            # Every phrase word must be in the pronunciation dictionary or the grammar
            # fails to load; drop the phrases that use unknown words, loudly.
            log.warning("pocketsphinx: no pronunciation for %s; dropping those phrases",
                        ", ".join(missing))
            self._table = {p: c for p, c in self._table.items()
                           if not set(p.split()) & set(missing)}
        # A garbage word that is also a command word would turn commands into garbage.
        self._garbage = sorted(
            w for w in set(garbage)
            if w not in phrase_words and self._decoder.lookup_word(w) is not None
        )
        self._decoder.add_jsgf_string(
            "commands", jsgf_grammar(self._table, self._garbage, command_weight)
        )
        self._decoder.activate_search("commands")
        self._endpointer_args = dict(window=EP_WINDOW, ratio=EP_RATIO, sample_rate=sample_rate)
        self._rng = np.random.default_rng(seed)
        self._clock = AudioClock(sample_rate)
        self._new_stream()

    def _new_stream(self) -> None:
        import pocketsphinx

        self._ep = pocketsphinx.Endpointer(**self._endpointer_args)
        self._frame_bytes = self._ep.frame_bytes
        self._pending = b""
        # Clock time (seconds) at which this endpointer's stream began.
        self._base = self._clock.now
        self._in_utt = False
        self._utt_start = 0.0
        self._utt_samples = 0

    # -- the Recognizer contract -------------------------------------------------

    def accept(self, pcm: bytes) -> list[Heard]:
        """Feed int16 mono audio; return commands decided in this chunk."""
        heard: list[Heard] = []
        # The whole chunk counts as fed now: a decision made in it is "emitted" at
        # the chunk's end, which is when a caller could first act on it.
        self._clock.advance_bytes(len(pcm))
        data = self._pending + pcm
        n_frames = len(data) // self._frame_bytes
        used = n_frames * self._frame_bytes
        self._pending = data[used:]
        if n_frames:
            frames = self._dither(data[:used])
            for i in range(n_frames):
                frame = frames[i * self._frame_bytes:(i + 1) * self._frame_bytes]
                speech = self._ep.process(frame)
                result = self._step(speech)
                if result is not None:
                    heard.append(result)
        return heard

    def reset(self) -> None:
        """Drop any partial utterance; keep the clock."""
        if self._in_utt:
            self._decoder.end_utt()
        self._new_stream()

    def skip(self, seconds: float) -> None:
        """Advance the clock for unfed audio; an utterance cannot span the gap."""
        self.reset()
        self._clock.advance_seconds(seconds)
        self._base = self._clock.now

    def flush(self) -> list[Heard]:
        """End of input: decide on the pending utterance, if any."""
        tail = self._dither(self._pending) if self._pending else b""
        self._pending = b""
        # end_stream() rejects an empty buffer (IndexError in pocketsphinx 5.1).
        speech = self._ep.end_stream(tail) if tail else None
        heard: list[Heard] = []
        if speech is not None:
            if not self._in_utt:
                self._begin()
            self._feed(speech)
        if self._in_utt:
            result = self._finish()
            if result is not None:
                heard.append(result)
        self._new_stream()
        return heard

    # -- internals ---------------------------------------------------------------

    def _dither(self, pcm: bytes) -> bytes:
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
        samples += self._rng.normal(0.0, NOISE_FLOOR, samples.shape).astype(np.float32)
        return np.clip(samples, -32768, 32767).astype("<i2").tobytes()

    def _step(self, speech: bytes | None) -> Heard | None:
        if speech is not None:
            if not self._in_utt:
                self._begin()
            self._feed(speech)
            if self._ep.in_speech:
                return None
        if self._in_utt and not self._ep.in_speech:
            return self._finish()
        return None

    def _begin(self) -> None:
        self._decoder.start_utt()
        self._in_utt = True
        self._utt_start = self._base + self._ep.speech_start
        self._utt_samples = 0

    def _feed(self, speech: bytes) -> None:
        self._utt_samples += len(speech) // 2
        if speech and self._utt_samples <= MAX_UTTERANCE_S * self.sample_rate:
            self._decoder.process_raw(speech)

    def _finish(self) -> Heard | None:
        self._decoder.end_utt()
        self._in_utt = False
        if self._utt_samples > MAX_UTTERANCE_S * self.sample_rate:
            return None
        hyp = self._decoder.hyp()
        if hyp is None:
            return None
        segments = [s for s in self._decoder.seg() if s.word.strip() and not _is_filler(s.word)]
        words = [_base_word(s.word) for s in segments]
        command, text = decide(words, [], self._table, 0.0, garbage=self._garbage)
        if command is None or not segments:
            if words:
                log.debug("pocketsphinx rejected %r", text)
            return None
        frate = 100.0  # PocketSphinx frames per second (default -frate)
        start = self._utt_start + segments[0].start_frame / frate
        end = self._utt_start + (segments[-1].end_frame + 1) / frate
        return make_heard(command, text, start, end, self._clock.now, hyp.prob)


def _is_filler(word: str) -> bool:
    # "(NULL)" marks grammar-internal null transitions; <sil>, [NOISE], +SPN+ are fillers.
    return word.strip().startswith(("<", "[", "+", "(NULL)"))


def _base_word(word: str) -> str:
    # Alternate pronunciations come back as "word(2)".
    return word.strip().split("(", 1)[0]


def available_phrases() -> list[str]:
    """The command phrases this engine listens for (the whole table)."""
    return commands.all_phrases()
