"""The primary engine: vosk (Kaldi) in grammar mode, restricted to the command table.

Facts this code relies on (vosk 0.3.45):

* Grammar mode is forced choice: without an unknown-word entry any sound becomes a
  command.  English models spell it `[unk]`; other models `<UNK>`/`<unk>`, so the
  entry is looked up in the model's own word list.
* The grammar must be built with `json.dumps(..., ensure_ascii=False)`, or words
  outside ASCII are silently dropped; words missing from the model are dropped by
  vosk with only a log line, so they are dropped here first, with a warning.
* `SetWords(True)` gives per-word `conf`, `start`, `end`.  Word times keep growing
  across endpoints and `Reset()`, and after `FinalResult()` + `Reset()` they were
  measured to count the last utterance twice.  So reset/skip/flush start a fresh
  KaldiRecognizer (0.7 ms) whose time zero is known on our clock.
* The stock endpointer waits about 0.9 s after a word; a copy of `conf/model.conf`
  with shorter trailing-silence rules (made in a temporary directory and removed
  once the model is loaded; the model directory is never modified) decides sooner.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from voicecoach.core.commands import Command
from voicecoach.voice.base import Heard
from voicecoach.voice.models import model_problem
from voicecoach.voice.recognizer import AudioClock, Recognizer, decide, make_heard, number_table, phrase_table

log = logging.getLogger(__name__)

UNKNOWN_ENTRIES = ("[unk]", "<UNK>", "<unk>")

# Trailing silence (seconds) after which an utterance is final.  rule2 applies when
# the best path ends in a final grammar state (a whole command was heard), so it can
# be short; rule3/rule4 are the fallbacks for paths that have not ended well.
ENDPOINT_RULES = {
    "--endpoint.rule2.min-trailing-silence": "0.2",
    "--endpoint.rule3.min-trailing-silence": "0.4",
    "--endpoint.rule4.min-trailing-silence": "0.8",
}

DEFAULT_MIN_CONFIDENCE = 0.6


class VoskUnavailable(RuntimeError):
    """vosk cannot load, or the model directory cannot be used.

    `kind` says which: "import" (the vosk package or a library it needs), "model" (the
    folder is not a complete model, or vosk failed to load it), "vocabulary" (the model
    lacks the command words: not an English model).
    """

    def __init__(self, message: str, kind: str = "model") -> None:
        super().__init__(message)
        self.kind = kind


def model_words(model_dir: str | Path) -> set[str]:
    """Every word the model can recognize.

    Read from `graph/words.txt` when the model has one; lookahead models (HCLr +
    Gr) often keep the table only inside `Gr.fst`, whose OpenFst header is parsed
    here (the symbol table follows the header, before any arc data).
    """
    graph = Path(model_dir) / "graph"
    words_txt = graph / "words.txt"
    if words_txt.is_file():
        with open(words_txt, encoding="utf-8") as f:
            return {line.split()[0] for line in f if line.strip()}
    for name in ("Gr.fst", "HCLG.fst"):
        fst = graph / name
        if fst.is_file():
            words = _fst_output_symbols(fst)
            if words:
                return words
    return set()


_FST_MAGIC = 2125659606
_SYMTAB_MAGIC = 2125658996


def _fst_output_symbols(path: Path) -> set[str]:
    """The output symbol table of an OpenFst binary file, or an empty set."""
    with open(path, "rb") as f:
        reader = _Reader(f)
        if reader.i32() != _FST_MAGIC:
            return set()
        reader.string()  # fst type
        reader.string()  # arc type
        reader.i32()  # version
        flags = reader.i32()
        reader.skip(8 + 8 + 8 + 8)  # properties, start, numstates, numarcs
        has_isyms, has_osyms = bool(flags & 1), bool(flags & 2)
        tables = []
        for present in (has_isyms, has_osyms):
            if not present:
                tables.append(set())
                continue
            if reader.i32() != _SYMTAB_MAGIC:
                return set()
            reader.string()  # table name
            reader.i64()  # available key
            size = reader.i64()
            symbols = set()
            for _ in range(size):
                symbols.add(reader.string().decode("utf-8", "replace"))
                reader.i64()
            tables.append(symbols)
        return tables[1] or tables[0]


class _Reader:
    """Little-endian reads from a binary file, buffered for a 500k-entry table."""

    def __init__(self, f) -> None:  # noqa: ANN001 - a binary file object
        self._f = f
        self._buf = b""
        self._pos = 0

    def _need(self, n: int) -> None:
        if self._pos + n > len(self._buf):
            self._buf = self._buf[self._pos:] + self._f.read(max(n, 1 << 20))
            self._pos = 0
            if n > len(self._buf):
                raise EOFError("truncated OpenFst file")

    def skip(self, n: int) -> None:
        self._need(n)
        self._pos += n

    def i32(self) -> int:
        self._need(4)
        (v,) = struct.unpack_from("<i", self._buf, self._pos)
        self._pos += 4
        return v

    def i64(self) -> int:
        self._need(8)
        (v,) = struct.unpack_from("<q", self._buf, self._pos)
        self._pos += 8
        return v

    def string(self) -> bytes:
        n = self.i32()
        self._need(n)
        v = self._buf[self._pos:self._pos + n]
        self._pos += n
        return v


def _tuned_copy(model_dir: Path) -> Path:
    """A temporary directory that mirrors the model with a faster endpointer."""
    tmp = Path(tempfile.mkdtemp(prefix="voicecoach-vosk-"))
    for entry in model_dir.iterdir():
        if entry.name != "conf":
            os.symlink(entry.resolve(), tmp / entry.name)
    conf = tmp / "conf"
    conf.mkdir()
    for entry in (model_dir / "conf").iterdir():
        if entry.name != "model.conf":
            os.symlink(entry.resolve(), conf / entry.name)
    lines = []
    src = model_dir / "conf" / "model.conf"
    if src.is_file():
        lines = [ln.strip() for ln in src.read_text().splitlines() if ln.strip()]
    lines = [ln for ln in lines if ln.split("=", 1)[0] not in ENDPOINT_RULES]
    lines += [f"{k}={v}" for k, v in ENDPOINT_RULES.items()]
    (conf / "model.conf").write_text("\n".join(lines) + "\n")
    return tmp


class VoskRecognizer(Recognizer):
    """vosk grammar-mode recognizer over the command table."""

    name = "vosk"

    def __init__(
        self,
        model_dir: str | Path,
        *,
        phrases: Mapping[str, str] | Iterable[str] | None = None,
        min_confidence: float = DEFAULT_MIN_CONFIDENCE,
        sample_rate: int = 16000,
    ) -> None:
        try:
            import vosk
        except (ImportError, OSError) as exc:
            # OSError: the package is there but its libvosk.so needs a system library
            # that is missing (libatomic.so.1 on a bare Raspberry Pi OS).
            raise VoskUnavailable(f"the vosk package cannot load: {exc}", kind="import") from exc
        model_dir = Path(model_dir)
        problem = model_problem(model_dir)
        if problem is not None:
            raise VoskUnavailable(f"{model_dir} is not a usable vosk model: {problem}")
        self.sample_rate = sample_rate
        self.min_confidence = min_confidence
        self.model_dir = model_dir

        vocab = model_words(model_dir)
        self.unknown = next((u for u in UNKNOWN_ENTRIES if u in vocab), None) if vocab else "[unk]"
        table = self._known(phrase_table(phrases), vocab, warn=True)
        if not table:
            raise VoskUnavailable(f"no command phrase is in the vocabulary of {model_dir}",
                                  kind="vocabulary")
        if self.unknown is None:
            log.warning("vosk model %s has no unknown-word entry: rejection relies on "
                        "confidence alone", model_dir.name)
        # The commands, and the commands plus the numbers 0-10 (while the coach asks
        # for a pain score); numbers the model cannot say are left out quietly.
        self._tables = {False: table, True: {**table, **self._known(number_table(), vocab)}}
        self._numbers = False
        self._table = table
        self.grammar_json = self._grammar_json(table)

        vosk.SetLogLevel(-2)
        tuned = _tuned_copy(model_dir)
        try:
            self._model = vosk.Model(str(tuned))
        except Exception as exc:
            raise VoskUnavailable(f"vosk could not load the model in {model_dir}: {exc}") from exc
        finally:
            # Everything is in memory once Model() returns.
            shutil.rmtree(tuned, ignore_errors=True)
        self._vosk = vosk
        self._clock = AudioClock(sample_rate)
        self._new_rec()

    def _known(self, table: dict[str, Command], vocab: set[str], warn: bool = False) -> dict[str, Command]:
        """The phrases of `table` whose words are all in the model's vocabulary."""
        if not vocab:
            # No readable word list: trust the model to be an English one.
            return table
        kept = {p: c for p, c in table.items() if all(w in vocab for w in p.split())}
        dropped = sorted(set(table) - set(kept))
        if dropped and warn:
            log.warning("vosk model %s lacks words of %d phrase(s), dropped: %s",
                        self.model_dir.name, len(dropped), ", ".join(dropped))
        return kept

    def _grammar_json(self, table: dict[str, Command]) -> str:
        grammar = sorted(table) + ([self.unknown] if self.unknown else [])
        return json.dumps(grammar, ensure_ascii=False)

    def listen_for_numbers(self, on: bool) -> None:
        """Also hear "zero" to "ten", or stop; drops a partial utterance when it changes."""
        if on == self._numbers:
            return
        self._numbers = on
        self._table = self._tables[on]
        self.grammar_json = self._grammar_json(self._table)
        self._new_rec()

    def _new_rec(self) -> None:
        self._rec = self._vosk.KaldiRecognizer(self._model, self.sample_rate, self.grammar_json)
        self._rec.SetWords(True)
        # Our clock time at this recognizer's time zero.
        self._rec_base = self._clock.now

    @property
    def phrases(self) -> list[str]:
        """The phrases in the active grammar."""
        return sorted(self._table)

    def accept(self, pcm: bytes) -> list[Heard]:
        """Feed int16 mono audio; return commands decided in this chunk."""
        if not pcm:
            return []
        self._clock.advance_bytes(len(pcm))
        if self._rec.AcceptWaveform(pcm):
            return self._decide(self._rec.Result())
        return []

    def reset(self) -> None:
        """Drop any partial utterance; keep the clock."""
        self._new_rec()

    def reset_state(self) -> None:
        """Back to the state of a new recognizer: clock at zero, commands only.

        The loaded model holds no per-stream state (feature normalisation and
        i-vectors live in the KaldiRecognizer, made afresh here), so nothing heard
        before carries over.
        """
        self._clock = AudioClock(self.sample_rate)
        self._numbers = False
        self._table = self._tables[False]
        self.grammar_json = self._grammar_json(self._table)
        self._new_rec()

    def skip(self, seconds: float) -> None:
        """Advance the clock for unfed audio; an utterance cannot span the gap."""
        self._clock.advance_seconds(seconds)
        self._new_rec()

    def flush(self) -> list[Heard]:
        """End of input: decide on the pending utterance, if any."""
        heard = self._decide(self._rec.FinalResult())
        self._new_rec()
        return heard

    def _decide(self, result_json: str) -> list[Heard]:
        result = json.loads(result_json)
        words = result.get("result") or []
        if not words:
            return []
        tokens = [w["word"] for w in words]
        confs = [float(w.get("conf", 1.0)) for w in words]
        garbage = [self.unknown] if self.unknown else []
        command, text = decide(tokens, confs, self._table, self.min_confidence, garbage=garbage)
        if command is None:
            log.debug("vosk rejected %r (conf %s)", text, confs)
            return []
        start = float(words[0]["start"]) + self._rec_base
        end = float(words[-1]["end"]) + self._rec_base
        return [make_heard(command, text, start, end, self._clock.now, min(confs))]
