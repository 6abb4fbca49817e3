"""Whisper's byte-level BPE tokenizer, read from the model's tokenizer.json with the standard library.

The engine needs little of a tokenizer: the ids of a few special tokens, the ids
of the few words it scores, and the text of a handful of decoded tokens.  Doing
that here saves the `tokenizers` package and, through it, the Hugging Face hub
client and its HTTP stack, none of which an offline coach uses.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def _byte_to_char() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, chars, strict=True)}


class WhisperTokenizer:
    """Encode a word and decode ids the way Whisper's own tokenizer does."""

    def __init__(self, path: str | Path) -> None:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        model = data["model"]
        if model.get("type") != "BPE":
            raise ValueError(f"{path}: not a BPE tokenizer")
        self._vocab: dict[str, int] = model["vocab"]
        self._ranks: dict[tuple[str, str], int] = {}
        for rank, merge in enumerate(model["merges"]):
            pair = tuple(merge.split(" ", 1)) if isinstance(merge, str) else tuple(merge)
            self._ranks[pair] = rank
        self._special = {t["content"]: t["id"] for t in data.get("added_tokens", [])}
        self._text_of = {i: t for t, i in self._vocab.items()}
        self._char_to_byte = {c: b for b, c in _byte_to_char().items()}

    def token_to_id(self, token: str) -> int | None:
        """The id of a special token such as <|endoftext|>, or of a vocabulary entry."""
        return self._special.get(token, self._vocab.get(token))

    def encode_word(self, text: str) -> list[int]:
        """The ids of one pre-token (a word with its leading space, like " Stop")."""
        table = _byte_to_char()
        parts = [table[b] for b in text.encode("utf-8")]
        while len(parts) > 1:
            pairs = [(self._ranks.get((a, b)), i) for i, (a, b) in enumerate(zip(parts, parts[1:], strict=False))]
            ranked = [(r, i) for r, i in pairs if r is not None]
            if not ranked:
                break
            _, i = min(ranked)
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        return [self._vocab[p] for p in parts]

    def decode(self, ids: list[int]) -> str:
        """The text of ordinary tokens (special tokens are left out)."""
        chars = "".join(self._text_of.get(i, "") for i in ids)
        return bytes(self._char_to_byte[c] for c in chars if c in self._char_to_byte).decode("utf-8", "replace")
