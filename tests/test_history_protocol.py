"""One protocol for the history: the SQLite store, the session's durable writer and the null
store all provide every method of `HistoryStore`, with the same parameters (the null and durable
ones may take the record fields as keywords they pass on)."""

from __future__ import annotations

import inspect

import pytest

from voicecoach.store.history import DurableHistory, History, HistoryStore, NullHistory

METHODS = [name for name, value in vars(HistoryStore).items() if callable(value) and not name.startswith("_")]


def _parameters(cls: type, name: str) -> list[inspect.Parameter]:
    return list(inspect.signature(getattr(cls, name)).parameters.values())[1:]


@pytest.mark.parametrize("cls", [History, DurableHistory, NullHistory])
def test_every_history_provides_the_whole_protocol(cls: type) -> None:
    assert len(METHODS) >= 15
    for name in METHODS:
        assert callable(getattr(cls, name, None)), f"{cls.__name__} has no {name}"
        wanted = _parameters(HistoryStore, name)
        given = _parameters(cls, name)
        if any(p.kind is p.VAR_KEYWORD for p in given):
            # Record fields passed on as keywords: the positional part must still match.
            wanted = [p for p in wanted if p.kind is not p.KEYWORD_ONLY]
            given = [p for p in given if p.kind is not p.VAR_KEYWORD]
        assert [(p.name, p.kind, p.default) for p in given] == [(p.name, p.kind, p.default) for p in wanted], \
            f"{cls.__name__}.{name}"


def test_a_null_history_is_a_history_store() -> None:
    assert isinstance(NullHistory("no reason"), HistoryStore)
