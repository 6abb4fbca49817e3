"""Run `voicecoach history` in-process on a data folder, for the history and pain report tests."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from voicecoach.app import history_report


def report(data_dir: Path, *argv: str) -> tuple[int, str, str]:
    """`voicecoach history --data-dir DATA_DIR ARGV...`: the exit code, stdout and stderr."""
    parser = argparse.ArgumentParser(prog="voicecoach history")
    history_report.add_arguments(parser)
    args = parser.parse_args(["--data-dir", str(data_dir), *argv])
    out, err = io.StringIO(), io.StringIO()
    code = history_report.run(args, out=out, err=err)
    return code, out.getvalue(), err.getvalue()
