"""`run` opens the history, the voice and the event log together and closes every one of
them however it ends, even when the session cannot start (a bad --events path)."""

from __future__ import annotations

import ast
import io
from pathlib import Path
from typing import Any

import pytest

from voicecoach.app import run as app
from voicecoach.app.cli import UserError, build_parser, session_settings
from voicecoach.store import history
from voicecoach.voice.base import Listener
from voicecoach.voice.speakers import PrintSpeaker

MINI = Path(__file__).parent / "fixtures" / "mini.yaml"


class ClosingListener(Listener):
    closed = False

    def start(self, on_heard: Any, on_closed: Any) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class ClosingSpeaker(PrintSpeaker):
    closed = False

    def close(self) -> None:
        self.closed = True


def test_a_bad_event_log_path_leaves_nothing_open(tmp_path, monkeypatch):
    stores: list[Any] = []
    real_open = history.open_durable

    def open_durable(*args: Any, **kwargs: Any) -> Any:
        store = real_open(*args, **kwargs)
        closes = store.close

        def close() -> None:
            store.was_closed = True
            closes()

        store.close = close
        stores.append(store)
        return store

    voice = app.Voice(ClosingSpeaker(io.StringIO()), ClosingListener(), "text")
    monkeypatch.setattr(history, "open_durable", open_durable)
    monkeypatch.setattr(app, "open_voice", lambda *_a: voice)
    args = build_parser().parse_args(["run", str(MINI), "--text", "--data-dir", str(tmp_path),
                                      "--events", str(tmp_path / "no such folder" / "events.jsonl")])
    with pytest.raises(UserError, match="cannot write the event log"):
        app.run_session(session_settings(args), io.StringIO())
    assert len(stores) == 1 and getattr(stores[0], "was_closed", False)
    assert voice.speaker.closed and voice.listener.closed


def _imports(module: Any) -> set[str]:
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    return imported | {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}


def test_the_app_does_not_import_the_command_line():
    # The door (cli) calls the app; the app never calls back into it, and argparse stays at the door.
    from voicecoach.app import serve, settings
    for module in (app, serve, settings):
        imported = _imports(module)
        assert "voicecoach.app.cli" not in imported and "argparse" not in imported, module.__name__
    assert "voicecoach.core.errors" in _imports(app)
