"""The bundled English engine: PocketSphinx's wheel model, no download needed.

How it decides (chosen by measurement, see `benchmarks/recognition.py` and
`benchmarks/sphinx_tuning.py`):

* PocketSphinx's voice-activity endpointer cuts the stream into utterances, so a
  decision comes about 0.4 s after speech ends and the decoder only runs while
  someone speaks (listening to silence costs almost nothing).
* Each utterance is decoded with one JSGF grammar whose top level is a choice
  between three things the whole utterance may be:
  - one command phrase (heavily weighted: a command that fits wins);
  - one *near-miss* word: a common English word one phone away from a command
    word ("nest" and "text" for "next", "guess" for "yes", "ton" for "done"), or
    one of the most common English words.  A command must out-score its own
    neighbours, which rejects most look-alikes without hurting real commands much;
  - a loop of "garbage" words (counts and the coach's own vocabulary), for longer
    speech.
  A closed grammar of commands alone is forced choice: the coach's "ten" came out
  as "done" and most other speech became some command.
* The whole utterance must be exactly one command phrase (`recognizer.decide`).

Two details matter a lot with this acoustic model: digital silence (exact zeros,
as synthetic audio and some gated microphones produce) wrecks its features, so a
faint fixed noise floor is added to every sample; and the lattice "bestpath" pass
is off because on short phrases it often returned a path ending mid-phrase.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from voicecoach.core.commands import Command
from voicecoach.voice.base import Heard
from voicecoach.voice.endpointed import MAX_UTTERANCE_S, EndpointedRecognizer
from voicecoach.voice.recognizer import decide, make_heard, number_table, phrase_table
from voicecoach.voice.sphinx_words import COMMON_WORDS

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

# Weight of the command branch against the near-miss words and the garbage loop.
# Acoustic score differences dwarf it (a factor of 1e9 moves few decisions), so it
# is a fine control over the trade between commands right and false activations.

# Near-miss competitors: words among the NEAR_RANK most common English words that
# are one phone (substitution, insertion or deletion) from a command word, plus the
# COMMON_RANK most common words outright.  More words reject more speech and more
# commands too.  Measured on the development voices (benchmarks/sphinx_tuning.py,
# clean speech; right / false activations on the coach's lines / on other speech):
#   weight 100, no near-misses, no check (old)       66.1% / 5.9% / 22.6%
#   1e16, near 5000, common 0                        73.2% / 5.3% / 20.5%
#   1e16, near 5000, common 300                      70.8% / 4.4% / 16.8%
#   1e16, near 5000, common 1000 (chosen)            69.0% / 2.5% / 12.8%
#   1e16, near 5000, common 3000                     65.6% / 1.9% /  9.6%
#   1e9,  near 2000, common 0                        66.9% / 3.1% / 12.9%
# (all but the first with the "speech outside the command" check below).  Common words
# steal commands while the feature normalisation is still cold at the start of a
# session (espeak's "pause" heard as "causes", "next" as "length" with 3000).
DEFAULT_COMMAND_WEIGHT = 1e16
GARBAGE_WEIGHT = 1.0
NEAR_RANK = 5000
COMMON_RANK = 1000

# The phones of the wheel's US English model (CMUdict's ARPAbet, no stress marks).
PHONES: tuple[str, ...] = (
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH", "IH", "IY",
    "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH", "UW", "V", "W", "Y",
    "Z", "ZH",
)

# "Speech outside the command": the grammar lets silence and noise fillers pad a
# phrase, and this model will happily call the rest of "keep your knee straight"
# silence after decoding "keep going".  So a command is rejected when the frames
# decoded as filler hold too much audio nearly as loud as the command itself: more
# than OUTSIDE_FRAMES frames (10 ms each) within OUTSIDE_DB of the command's median
# frame energy and at least ABOVE_FLOOR_DB over the utterance's quietest tenth (so
# steady room noise between words does not count).  Measured on the development
# voices (benchmarks/sphinx_tuning.py, near 5000 / common 3000): false activations
# on the coach's lines 8.1% -> 1.9%, commands right 66.1% -> 65.6%; in 12 and 6 dB
# noise a threshold without the floor term rejected nearly every command.
OUTSIDE_DB = 10.0
ABOVE_FLOOR_DB = 6.0
OUTSIDE_FRAMES = 15

# PocketSphinx normalises features with a running cepstral mean that starts from a
# fixed guess and adapts over the utterances it decodes.  Until WARM_SPEECH_S seconds
# of speech have been decoded the near-miss words stay out of the grammar: with the
# cold mean, espeak-ng's "pause" from a fresh engine came out as its neighbour
# "cause" (and "next" as "length" when the 3000 most common words competed).  The
# first few commands of a session are decided as the old engine did
# (COLD_COMMAND_WEIGHT, garbage loop only, plus the check below).
WARM_SPEECH_S = 4.0
COLD_COMMAND_WEIGHT = 100.0
NUMBERS_COLD_WEIGHT = 1e16


class SphinxUnavailable(RuntimeError):
    """PocketSphinx or its bundled model cannot be loaded."""


def jsgf_grammar(
    phrases: Iterable[str],
    garbage: Iterable[str],
    command_weight: float,
    near: Iterable[str] = (),
    garbage_weight: float = 1.0,
) -> str:
    """A JSGF grammar: one command phrase, one near-miss word, or one or more garbage words."""
    # Apostrophes are fine inside JSGF tokens for PocketSphinx ("i'm", "that's").
    cmd = " | ".join(sorted(set(phrases)))
    gbg = " | ".join(sorted(set(garbage)))
    close = " | ".join(sorted(set(near)))
    if not gbg and not close:
        return f"#JSGF V1.0;\ngrammar voicecoach;\npublic <s> = {cmd} ;\n"
    # Fixed-point weights: the JSGF parser does not read exponents ("1e+16").
    rules = [f"<cmd> = {cmd} ;"]
    top = [f"/{command_weight:.6f}/ <cmd>"]
    if close:
        rules.append(f"<near> = {close} ;")
        top.append("/1/ <near>")
    if gbg:
        rules.append(f"<garbage> = {gbg} ;")
        top.append(f"/{garbage_weight:.6f}/ <garbage>+")
    return ("#JSGF V1.0;\ngrammar voicecoach;\n" + "\n".join(rules) + "\n"
            + f"public <s> = {' | '.join(top)} ;\n")


def pronunciations(lookup: Callable[[str], str | None], word: str) -> list[tuple[str, ...]]:
    """Every dictionary pronunciation of `word` ("word", "word(2)", ...) as phone tuples."""
    prons = []
    variant = word
    n = 1
    while (phones := lookup(variant)) is not None:
        prons.append(tuple(phones.split()))
        n += 1
        variant = f"{word}({n})"
    return prons


def _one_phone_away(pron: tuple[str, ...], phones: Iterable[str]) -> set[tuple[str, ...]]:
    """Every phone sequence one substitution, insertion or deletion from `pron`."""
    phones = tuple(phones)
    out = set()
    for i in range(len(pron) + 1):
        for ph in phones:
            out.add(pron[:i] + (ph,) + pron[i:])
        if i < len(pron):
            out.add(pron[:i] + pron[i + 1:])
            for ph in phones:
                out.add(pron[:i] + (ph,) + pron[i + 1:])
    return out


def near_miss_words(
    lookup: Callable[[str], str | None],
    command_words: Iterable[str],
    candidates: Iterable[str] = COMMON_WORDS,
    near_rank: int = NEAR_RANK,
    common_rank: int = COMMON_RANK,
) -> list[str]:
    """Words that compete with the commands as a whole utterance.

    `candidates` is ranked, most common first.  Taken: the first `common_rank`, and
    those of the first `near_rank` that are one phone from a command word.  Never
    taken: command words and exact homophones of one ("paws" for "pause", "know"
    for "no"): acoustics cannot tell those apart, so they would only steal commands.
    """
    command_words = set(command_words)
    cmd_prons = {p for w in command_words for p in pronunciations(lookup, w)}
    close: set[tuple[str, ...]] = set()
    for p in cmd_prons:
        close |= _one_phone_away(p, PHONES)
    close -= cmd_prons
    out = []
    for rank, word in enumerate(candidates):
        if rank >= max(near_rank, common_rank):
            break
        if word in command_words:
            continue
        prons = pronunciations(lookup, word)
        if not prons or any(p in cmd_prons for p in prons):
            continue
        if rank < common_rank or any(p in close for p in prons):
            out.append(word)
    return out


@dataclass(frozen=True)
class _Vocabulary:
    """What one grammar listens for: its phrases, its two searches, what it rejects."""

    table: dict[str, Command]
    warm: str
    cold: str
    near_words: list[str]
    rejects: frozenset[str]


class SphinxRecognizer(EndpointedRecognizer):
    """Command recognizer on PocketSphinx's bundled US English model."""

    name = "sphinx"

    def __init__(
        self,
        *,
        phrases: Mapping[str, str] | Iterable[str] | None = None,
        garbage: Iterable[str] = GARBAGE_WORDS,
        command_weight: float = DEFAULT_COMMAND_WEIGHT,
        garbage_weight: float = GARBAGE_WEIGHT,
        near_rank: int = NEAR_RANK,
        common_rank: int = COMMON_RANK,
        outside_db: float | None = OUTSIDE_DB,
        above_floor_db: float = ABOVE_FLOOR_DB,
        outside_frames: int = OUTSIDE_FRAMES,
        warm_speech_s: float = WARM_SPEECH_S,
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
        self._grammar_args = dict(garbage=garbage, command_weight=command_weight,
                                  garbage_weight=garbage_weight, near_rank=near_rank,
                                  common_rank=common_rank)
        # The vocabularies: the commands, and (built when first asked for) the commands
        # plus the numbers 0-10, listened for while the coach asks for a pain score.
        self._vocab: dict[bool, _Vocabulary] = {False: self._vocabulary(self._table, "")}
        self._numbers = False
        self._active = self._vocab[False]
        self.near_words = self._vocab[False].near_words
        self._warm_after = warm_speech_s
        self._speech_s = 0.0
        self._search = self._vocab[False].cold
        self._decoder.activate_search(self._search)
        self._outside = (outside_db, above_floor_db, outside_frames)
        self._utt_audio: list[bytes] = []
        super().__init__(sample_rate, seed)

    def _vocabulary(self, table: dict[str, Command], suffix: str,
                    cold_weight: float = COLD_COMMAND_WEIGHT, common_rank: int | None = None) -> _Vocabulary:
        """Add the warm and cold searches for `table` to the decoder."""
        args = self._grammar_args
        lookup = self._decoder.lookup_word
        phrase_words = {w for p in table for w in p.split()}
        # A garbage word that is also a command word would turn commands into garbage.
        garbage = sorted(w for w in set(args["garbage"]) if w not in phrase_words and lookup(w) is not None)
        # Built from the live table, so a new command gets its own neighbours.
        near = [w for w in near_miss_words(lookup, phrase_words, near_rank=args["near_rank"],
                                           common_rank=args["common_rank"] if common_rank is None else common_rank)
                if w not in garbage]
        vocab = _Vocabulary(table, "commands" + suffix, "cold" + suffix, near,
                            frozenset(garbage) | frozenset(near))
        self._decoder.add_jsgf_string(
            vocab.warm, jsgf_grammar(table, garbage, args["command_weight"], near, args["garbage_weight"]))
        # While the feature normalisation is cold (see WARM_SPEECH_S) the near-miss
        # words are left out: the old grammar, weighted as it was.
        self._decoder.add_jsgf_string(vocab.cold, jsgf_grammar(table, garbage, cold_weight))
        return vocab

    @property
    def warm(self) -> bool:
        """Whether enough speech has been decoded for the near-miss words to be used."""
        return self._speech_s >= self._warm_after

    def listen_for_numbers(self, on: bool) -> None:
        """Also hear "zero" to "ten" (from the next utterance on), or stop hearing them."""
        if on and True not in self._vocab:
            # Asked for a number, the user most likely says one: a cold engine favours
            # the phrases as strongly as a warm one (at 100, "seven" was heard as "set lift").
            self._vocab[True] = self._vocabulary({**self._table, **number_table()}, "+numbers",
                                                 cold_weight=NUMBERS_COLD_WEIGHT, common_rank=0)
        self._numbers = on

    # -- one utterance -----------------------------------------------------------

    def _begin(self) -> None:
        vocab = self._vocab[self._numbers]
        self._active = vocab
        search = vocab.warm if self.warm else vocab.cold
        if search != self._search:
            self._decoder.activate_search(search)
            self._search = search
        self._decoder.start_utt()
        self._utt_audio = []

    def _feed(self, speech: bytes) -> None:
        self._decoder.process_raw(speech)
        self._utt_audio.append(speech)

    def _abort(self) -> None:
        self._decoder.end_utt()

    def _finish(self) -> Heard | None:
        self._decoder.end_utt()
        self._speech_s += min(self._utt_samples / self.sample_rate, MAX_UTTERANCE_S)
        if self._too_long:
            return None
        hyp = self._decoder.hyp()
        if hyp is None:
            return None
        every = list(self._decoder.seg())
        segments = [s for s in every if s.word.strip() and not _is_filler(s.word)]
        words = [_base_word(s.word) for s in segments]
        command, text = decide(words, [], self._active.table, 0.0, garbage=self._active.rejects)
        if command is not None and self._outside[0] is not None:
            frames = [(s.word.strip(), s.start_frame, s.end_frame) for s in every]
            loud = speech_outside(b"".join(self._utt_audio), frames, self._outside[0], self._outside[1],
                                  self.sample_rate)
            if loud > self._outside[2]:
                log.debug("pocketsphinx rejected %r: %d loud frames outside it", text, loud)
                command = None
        if command is None or not segments:
            if words:
                log.debug("pocketsphinx rejected %r", text)
            return None
        frate = 100.0  # PocketSphinx frames per second (default -frate)
        start = self._utt_start + segments[0].start_frame / frate
        end = self._utt_start + (segments[-1].end_frame + 1) / frate
        return make_heard(command, text, start, end, self._clock.now, hyp.prob)


def frame_energies(pcm: bytes, sample_rate: int = 16000) -> np.ndarray:
    """Energy in dB of each decoder frame (10 ms hop, 25.6 ms window) of int16 audio."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    hop, win = sample_rate // 100, int(round(0.025625 * sample_rate))
    n = max(0, 1 + (len(x) - win) // hop) if len(x) >= win else 0
    if n == 0:
        return np.zeros(0)
    power = np.array([np.mean(x[i * hop:i * hop + win] ** 2) for i in range(n)])
    return 10.0 * np.log10(power + 1.0)


def speech_outside(
    pcm: bytes,
    segments: Iterable[tuple[str, int, int]],
    within_db: float,
    above_floor_db: float = 0.0,
    sample_rate: int = 16000,
) -> int:
    """How many frames decoded as filler are loud enough to be speech.

    Loud: within `within_db` of the words' median frame energy and more than
    `above_floor_db` over the utterance's 10th-percentile frame energy (its noise
    floor).  `segments` are the decoder's (word, first frame, last frame), fillers
    included.
    """
    energy = frame_energies(pcm, sample_rate)
    if len(energy) == 0:
        return 0
    words, fillers = [], []
    for word, first, last in segments:
        if first < 0 or word.startswith("(NULL)"):
            continue
        frames = energy[max(first, 0):last + 1]
        (fillers if _is_filler(word) else words).append(frames)
    if not words or not fillers:
        return 0
    threshold = max(float(np.median(np.concatenate(words))) - within_db,
                    float(np.percentile(energy, 10)) + above_floor_db)
    return int(sum(np.count_nonzero(f > threshold) for f in fillers))


def _is_filler(word: str) -> bool:
    # "(NULL)" marks grammar-internal null transitions; <sil>, [NOISE], +SPN+ are fillers.
    return word.strip().startswith(("<", "[", "+", "(NULL)"))


def _base_word(word: str) -> str:
    # Alternate pronunciations come back as "word(2)".
    return word.strip().split("(", 1)[0]

