"""Vosk speech models: where they live, which one is used, and a safe downloader.

`voicecoach models list | download [NAME] | path`.  A download streams to a temporary
file with a progress bar, checks its SHA-256, and unpacks into a temporary folder
inside the models folder that is renamed into place only once it looks like a
complete vosk model, so an interrupted download never leaves half a model behind.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, TextIO

from voicecoach import paths
from voicecoach.config import Config, ConfigError, load_config

README_HINT = "models/README.md"
CHUNK = 256 * 1024


@dataclass(frozen=True)
class KnownModel:
    """A model voicecoach knows how to fetch."""

    name: str
    """Folder name once unpacked, and the name `download` accepts."""

    url: str
    """Where the zip archive is published."""

    size_mb: int
    """Approximate archive size (megabytes), for the listing."""

    sha256: str | None
    """Expected SHA-256 of the archive, or None when it has not been verified."""

    description: str
    """One line for `models list`."""


# SHA-256 values are None until someone checks them against a real download: a wrong
# pinned hash would make the model impossible to install.  The computed hash is always
# printed, so it can be pinned here after checking it on a machine that can fetch it.
KNOWN_MODELS: dict[str, KnownModel] = {
    m.name: m
    for m in (
        KnownModel(
            "vosk-model-small-en-us-0.15",
            "https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip",
            40,
            None,
            "small US English model, the default; runs well on a Raspberry Pi",
        ),
        KnownModel(
            "vosk-model-en-us-0.22-lgraph",
            "https://alphacephei.com/vosk/models/vosk-model-en-us-0.22-lgraph.zip",
            128,
            None,
            "larger US English model; more accurate, slower to load, needs ~1 GB RAM",
        ),
    )
}
DEFAULT_MODEL = "vosk-model-small-en-us-0.15"

# The repository's own models/ folder (only present in a source checkout).
REPO_MODELS_DIR = paths.source_models_dir()

# What vosk needs in a model folder: each entry is satisfied by any one of its paths.
# The endpointer is tuned through conf/, and the graph is either a full HCLG or a
# lookahead HCLr (+ Gr).
MODEL_PARTS: tuple[tuple[str, ...], ...] = (
    ("am/final.mdl",),
    ("conf/",),
    ("graph/HCLG.fst", "graph/HCLr.fst"),
)


class ModelError(Exception):
    """A model problem a person can fix; the message says how."""


def model_problem(folder: Path | str) -> str | None:
    """What stops `folder` being a usable vosk model (a few words), or None when it is one."""
    folder = Path(folder).expanduser()
    if not folder.exists():
        return "the folder does not exist"
    if not folder.is_dir():
        return "it is a file, not a folder"
    missing = []
    for choices in MODEL_PARTS:
        present = [c for c in choices if (c.endswith("/") and (folder / c).is_dir())
                   or (folder / c).is_file()]
        if not present:
            missing.append(" or ".join(c.rstrip("/") for c in choices))
    if not missing:
        return None
    if len(missing) == len(MODEL_PARTS):
        return "not a vosk model (no am/final.mdl, conf/ or graph/)"
    return "incomplete: " + ", ".join(missing) + " missing"


def is_vosk_model(folder: Path | str) -> bool:
    """True if `folder` has what vosk needs: acoustic model, config folder and graph."""
    return model_problem(folder) is None


def models_dir(config: Config | None = None) -> Path:
    """Where downloaded models go: `$VOICECOACH_MODELS`, else `<data folder>/models`."""
    if os.environ.get("VOICECOACH_MODELS"):
        return paths.models_dir()
    return paths.models_dir(_config(config).data.folder)


def _config(config: Config | None) -> Config:
    if config is not None:
        return config
    try:
        return load_config().config
    except ConfigError:
        # A broken config file is reported by `voicecoach config` and `doctor`; finding a
        # model should still work with the default folders.
        return Config()


def search_dirs(config: Config | None = None) -> list[Path]:
    """Folders searched for installed models, in order of preference."""
    folders = [models_dir(config)]
    if REPO_MODELS_DIR.is_dir() and REPO_MODELS_DIR.resolve() != folders[0].resolve():
        folders.append(REPO_MODELS_DIR)
    return folders


def installed_models(config: Config | None = None) -> list[Path]:
    """Every vosk model folder found in the search folders, preferred first."""
    found: list[Path] = []
    for folder in search_dirs(config):
        if not folder.is_dir():
            continue
        children = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
        found += [p for p in children if is_vosk_model(p)]
    return found


def _preference(path: Path) -> tuple[int, int]:
    # The default model first, then other known English models, then anything else;
    # within a rank, the search-folder order from installed_models() is kept.
    names = list(KNOWN_MODELS)
    rank = names.index(path.name) if path.name in names else len(names)
    return (0 if path.name == DEFAULT_MODEL else 1, rank)


def find_model_dir(config: Config | None = None) -> Path | None:
    """The vosk model `--engine auto` should use, or None if there is none.

    `[speech] model` from the config wins when it is a valid model; otherwise the best
    model in the models folder, then in the repository's models/ folder.
    """
    config = _config(config)
    if config.speech.model is not None:
        found = find_model(config.speech.model)
        if found is not None:
            return found
    models = installed_models(config)
    if not models:
        return None
    ranked = sorted(enumerate(models), key=lambda item: (_preference(item[1]), item[0]))
    return ranked[0][1]


def find_model(model: Path | str | None = None, config: Config | None = None) -> Path | None:
    """The vosk model to load: `model` (a model, or a folder of models) when given, else
    `find_model_dir(config)`.  A folder of models gives its best complete one."""
    if model is None:
        return find_model_dir(config)
    folder = Path(model).expanduser()
    if is_vosk_model(folder):
        return folder
    if not folder.is_dir():
        return None
    children = [p for p in sorted(folder.iterdir()) if not p.name.startswith(".") and is_vosk_model(p)]
    ranked = sorted(enumerate(children), key=lambda item: (_preference(item[1]), item[0]))
    return ranked[0][1] if ranked else None


def broken_models(model: Path | str | None = None, config: Config | None = None) -> list[tuple[Path, str]]:
    """Model folders that were meant to be models but are not usable, with what is wrong.

    `model` when given; else `[speech] model` and, in the search folders, every folder
    that has some of a model's parts (an interrupted unpack, a deleted graph).
    """
    config = _config(config)
    named = model if model is not None else config.speech.model
    if named is not None:
        problem = model_problem(named)
        return [(Path(named).expanduser(), problem)] if problem else []
    found: list[tuple[Path, str]] = []
    for folder in search_dirs(config):
        if not folder.is_dir():
            continue
        for child in sorted(folder.iterdir()):
            if child.name.startswith(".") or not child.is_dir():
                continue
            problem = model_problem(child)
            if problem and problem.startswith("incomplete"):
                found.append((child, problem))
    return found


def reinstall_hint(folder: Path) -> str:
    """How to replace a damaged model folder."""
    if folder.name in KNOWN_MODELS:
        return f"run `voicecoach models download {folder.name} --force`"
    return f"delete {folder} and run `voicecoach models download` (or unpack the model again)"


class Progress:
    """A download progress bar on a terminal; occasional plain lines otherwise."""

    def __init__(self, total: int | None, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.started = time.monotonic()
        self.last_report = -1

    def update(self, done: int) -> None:
        """Show that `done` bytes have arrived."""
        mb = done / 1e6
        speed = mb / max(time.monotonic() - self.started, 1e-6)
        if self.total:
            fraction = min(done / self.total, 1.0)
            if self.tty:
                bar = "#" * int(fraction * 30)
                self.stream.write(
                    f"\r[{bar:<30}] {fraction:4.0%} {mb:6.1f}/{self.total / 1e6:.1f} MB"
                    f" {speed:5.1f} MB/s"
                )
                self.stream.flush()
                return
            # Log files get a line every 10%, not thousands of carriage returns.
            step = int(fraction * 10)
            if step > self.last_report:
                self.last_report = step
                print(f"downloaded {fraction:.0%} ({mb:.1f} MB)", file=self.stream)
            return
        if self.tty:
            self.stream.write(f"\r{mb:6.1f} MB {speed:5.1f} MB/s")
            self.stream.flush()
        elif int(mb // 10) > self.last_report:
            self.last_report = int(mb // 10)
            print(f"downloaded {mb:.1f} MB", file=self.stream)

    def finish(self) -> None:
        """End the bar's line."""
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def fetch(url: str, target: BinaryIO, progress_stream: TextIO | None, timeout: float) -> str:
    """Stream `url` into `target`; return the SHA-256 of what was written."""
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "voicecoach"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        progress = Progress(int(length) if length and length.isdigit() else None, progress_stream)
        done = 0
        while chunk := response.read(CHUNK):
            target.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            progress.update(done)
        progress.finish()
        if length and length.isdigit() and done != int(length):
            raise ModelError(f"download from {url} stopped after {done} of {length} bytes")
    return digest.hexdigest()


def _safe_members(archive: zipfile.ZipFile) -> Iterator[zipfile.ZipInfo]:
    """The archive's entries, refusing any that could write outside the target folder."""
    for info in archive.infolist():
        name = info.filename.replace("\\", "/")
        parts = PurePosixPath(name).parts
        if name.startswith("/") or (parts and ":" in parts[0]) or ".." in parts:
            raise ModelError(f"refusing unsafe path in archive: {info.filename!r}")
        # Unix mode bits live in the high 16 bits; 0o120000 is a symbolic link.
        if (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise ModelError(f"refusing symbolic link in archive: {info.filename!r}")
        yield info


def _model_root(folder: Path) -> Path:
    """The model inside an unpacked archive: the folder itself or its one subfolder."""
    if is_vosk_model(folder):
        return folder
    entries = [p for p in folder.iterdir() if not p.name.startswith("__MACOSX")]
    if len(entries) == 1 and is_vosk_model(entries[0]):
        return entries[0]
    raise ModelError(
        "the archive does not contain a vosk model (expected am/final.mdl, a conf/ folder "
        "and graph/HCLG.fst or graph/HCLr.fst)"
    )


def install_archive(archive_path: Path, name: str, folder: Path, *, force: bool = False) -> Path:
    """Unpack a model zip into `folder/name`, all or nothing; return the model path."""
    target = folder / name
    if target.exists() and not force:
        raise ModelError(f"{target} already exists (use --force to replace it)")
    folder.mkdir(parents=True, exist_ok=True)
    # Unpack next to the target so the final rename stays on one filesystem (atomic).
    scratch = Path(tempfile.mkdtemp(prefix=f".unpack-{name}-", dir=folder))
    try:
        try:
            with zipfile.ZipFile(archive_path) as archive:
                members = list(_safe_members(archive))
                needed = sum(info.file_size for info in members)
                free = shutil.disk_usage(folder).free
                if needed > free:
                    raise ModelError(
                        f"not enough disk space in {folder}: need {needed / 1e6:.0f} MB, "
                        f"have {free / 1e6:.0f} MB"
                    )
                for info in members:
                    archive.extract(info, scratch)
        except zipfile.BadZipFile as error:
            raise ModelError(f"the download is not a valid zip archive ({error})") from None
        root = _model_root(scratch)
        if target.exists():
            # os.replace cannot overwrite a non-empty folder: move the old one aside first.
            old = Path(tempfile.mkdtemp(prefix=f".old-{name}-", dir=folder))
            os.replace(target, old / name)
            os.replace(root, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(root, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def download_model(
    name: str = DEFAULT_MODEL,
    *,
    url: str | None = None,
    sha256: str | None = None,
    folder: Path | None = None,
    force: bool = False,
    progress_stream: TextIO | None = None,
    timeout: float = 30.0,
) -> tuple[Path, str]:
    """Download and install a model; return (model folder, SHA-256 of the archive).

    `url` and `sha256` default to the known-models table; a hash given here or in the
    table must match.  Raises ModelError with advice on every failure.
    """
    known = KNOWN_MODELS.get(name)
    if url is None:
        if known is None:
            choices = ", ".join(KNOWN_MODELS)
            raise ModelError(f"unknown model '{name}'; known models: {choices} (or give --url)")
        url = known.url
    expected = (sha256 or (known.sha256 if known and url == known.url else None) or "").lower()
    if expected and len(expected) != 64:
        raise ModelError(f"--sha256 must be 64 hexadecimal digits, got {len(expected)}")
    folder = folder or models_dir()
    target = folder / name
    if target.exists() and not force:
        raise ModelError(f"{name} is already installed at {target} (use --force to replace it)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ModelError(f"cannot create the models folder {folder}: {error.strerror}") from None

    handle, part_name = tempfile.mkstemp(prefix=f".download-{name}-", suffix=".zip", dir=folder)
    part = Path(part_name)
    try:
        with os.fdopen(handle, "wb") as target_file:
            try:
                digest = fetch(url, target_file, progress_stream, timeout)
            except urllib.error.HTTPError as error:
                raise ModelError(
                    f"{url} answered {error.code} {error.reason}; check the name or the URL"
                ) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                reason = getattr(error, "reason", error)
                raise ModelError(
                    f"cannot reach {url} ({reason}); download it on another computer and "
                    f"unpack into {folder}, see {README_HINT}"
                ) from None
        if expected and digest != expected:
            raise ModelError(
                f"SHA-256 mismatch for {url}: expected {expected}, got {digest}; "
                "the download is corrupt or the file changed, nothing was installed"
            )
        return install_archive(part, name, folder, force=force), digest
    finally:
        part.unlink(missing_ok=True)


def _name_from_url(url: str) -> str:
    stem = PurePosixPath(urllib.parse.urlparse(url).path).name
    return stem[:-4] if stem.endswith(".zip") else stem or "model"


def _list(config: Config, out: TextIO) -> None:
    chosen = find_model_dir(config)
    installed = installed_models(config)
    by_name = {p.name: p for p in reversed(installed)}
    print(f"models folder: {models_dir(config)}", file=out)
    print("", file=out)
    print("known models:", file=out)
    for model in KNOWN_MODELS.values():
        path = by_name.get(model.name)
        mark = "*" if path is not None and path == chosen else " "
        state = f"installed at {path}" if path else "not installed"
        default = " (default)" if model.name == DEFAULT_MODEL else ""
        sha = model.sha256 or "unknown (not yet verified)"
        print(f" {mark} {model.name}{default}  ~{model.size_mb} MB  {state}", file=out)
        print(f"     {model.description}; sha256 {sha}", file=out)
    others = [p for p in installed if p.name not in KNOWN_MODELS]
    if config.speech.model is not None and config.speech.model not in installed:
        others.insert(0, config.speech.model)
    if others:
        print("", file=out)
        print("other models:", file=out)
        for path in others:
            mark = "*" if path == chosen else " "
            problem = model_problem(path)
            note = f"  ({problem})" if problem else ""
            print(f" {mark} {path}{note}", file=out)
    print("", file=out)
    if chosen:
        print(f"* = used by --engine auto: {chosen}", file=out)
    else:
        print("no vosk model installed: `voicecoach models download` fetches the default", file=out)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `voicecoach models`."""
    parser.add_argument(
        "--config",
        metavar="PATH",
        type=Path,
        default=argparse.SUPPRESS,
        help="config file (its [data] folder decides where models go)",
    )
    actions = parser.add_subparsers(dest="models_action", metavar="ACTION")
    actions.add_parser("list", help="show known and installed models (the default)")
    download = actions.add_parser("download", help="download and unpack a model")
    download.add_argument(
        "name", nargs="?", default=None, help=f"model name (default: {DEFAULT_MODEL})"
    )
    download.add_argument("--url", help="download from this URL instead of the known one")
    download.add_argument("--sha256", metavar="HEX", help="expected SHA-256 of the archive")
    download.add_argument("--force", action="store_true", help="replace an installed model")
    actions.add_parser("path", help="print the models folder and the model that would be used")


def run(args: argparse.Namespace) -> int:
    """`voicecoach models`: list, download or locate vosk models; 1 on failure."""
    try:
        config = load_config(getattr(args, "config", None)).config
    except ConfigError as error:
        print(f"voicecoach: {error}", file=sys.stderr)
        return 1
    action = getattr(args, "models_action", None) or "list"
    if action == "list":
        _list(config, sys.stdout)
        return 0
    if action == "path":
        print(models_dir(config))
        chosen = find_model_dir(config)
        print(f"selected model: {chosen if chosen else 'none'}")
        return 0
    url = getattr(args, "url", None)
    name = args.name or (_name_from_url(url) if url else DEFAULT_MODEL)
    folder = models_dir(config)
    source = url or (KNOWN_MODELS[name].url if name in KNOWN_MODELS else None)
    if source:
        print(f"downloading {name} from {source} into {folder}", file=sys.stderr)
    try:
        path, digest = download_model(
            name, url=url, sha256=args.sha256, folder=folder, force=args.force
        )
    except ModelError as error:
        print(f"voicecoach: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("voicecoach: download interrupted; nothing was installed", file=sys.stderr)
        return 130
    known = KNOWN_MODELS.get(name)
    if args.sha256 or (known and known.sha256 and not url):
        print(f"sha256 {digest} (verified)")
    else:
        print(f"sha256 {digest} (not verified: no expected hash known)")
    print(f"installed {name} at {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run `voicecoach models` on its own (`python -m voicecoach.voice.models`)."""
    parser = argparse.ArgumentParser(prog="voicecoach models", description=run.__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
