"""The user's doors: `voicecoach run`, `list`, `show`, `plan`, `check`, `suggest` and the rest.

Thin: it parses arguments, wires the parts together and turns errors a user can
cause into one-line messages and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

from voicecoach import __version__
from voicecoach.app.settings import VIEWS, SessionSettings
from voicecoach.app.settings import build as build_settings
from voicecoach.core.commands import help_names
from voicecoach.core.errors import UserError
from voicecoach.core.plan import Plan, format_plan
from voicecoach.core.routine import Routine, RoutineError, find_routine, list_routines, load_routine

EPILOG = """\
examples:
  voicecoach list                              the routines you can run
  voicecoach run hips-for-knees                a hands-free session (speaker and microphone)
  voicecoach run hips-for-knees --text         speech printed, commands typed
  voicecoach plan hips-for-knees               the whole script with times
  voicecoach check my-routine.yaml             validate a routine you wrote
"""
# The commands come from the one table (voicecoach/core/commands.py), wrapped like the lines above.
EPILOG += "\n" + textwrap.fill("While a session runs, say (or type): " + ", ".join(help_names()) + ".", 90) + "\n"

# Subcommands that live in their own modules: name -> (module, help).
PLUGIN_COMMANDS: dict[str, tuple[str, str]] = {
    "recognize": ("voicecoach.app.recognize", "recognize commands in WAV files"),
    "devices": ("voicecoach.voice.devices", "list audio devices"),
    "models": ("voicecoach.voice.models", "list, download or locate speech models"),
    "voices": ("voicecoach.voice.voices", "list the installed Piper voices"),
    "doctor": ("voicecoach.app.doctor", "check this machine and say what is wrong"),
    "config": ("voicecoach.config", "print the effective configuration"),
    "history": ("voicecoach.app.history_report", "show past sessions"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; given the command about to run, only that plugin module is imported.

    The plugin modules pull in numpy and the audio stack, which costs a Raspberry Pi most of a
    second; `voicecoach list` should not pay for `voicecoach recognize`.
    """
    parser = argparse.ArgumentParser(
        prog="voicecoach",
        description="An offline, hands-free voice coach for knee-friendly exercise routines.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"voicecoach {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="coach a routine", description="Coach a routine, start to finish.")
    run.add_argument("routine", help="a routine name (see `voicecoach list`) or a path to a routine file")
    add_session_arguments(run)

    serve = sub.add_parser("serve", help='wait hands-free and start a routine on "start ..."',
                           description='Wait hands-free and start a routine on "start ...".',
                           epilog='Say "start" and a routine\'s name or alias ("coach, start hips"), or "what can I '
                                  'do" to hear the routines. --text reads the same phrases typed, one per line.')
    add_session_arguments(serve)
    serve.add_argument("--routines", metavar="DIR", type=_path,
                       help="offer only the routines in DIR (default: every routine folder)")

    sub.add_parser("list", help="list the routines", description="List the routines you can run.")

    show = sub.add_parser("show", help="show a routine", description="Show a routine's exercises.")
    show.add_argument("routine")
    show.add_argument("--json", action="store_true", help="print the parsed routine as JSON")

    plan = sub.add_parser("plan", help="print what the coach will say, with times",
                          description="Print the whole script of a session, with times, without waiting.")
    plan.add_argument("routine")
    add_timing_arguments(plan)
    plan.add_argument("--brief", action="store_true",
                      help="the short form a returning user hears (see [coach] brief in the configuration)")
    plan.add_argument("--config", metavar="FILE", help="configuration file (default ~/.config/voicecoach/config.toml)")

    check = sub.add_parser("check", help="validate routine files",
                           description="Validate routine files. Prints FILE:LINE: message per problem.")
    check.add_argument("files", nargs="+", metavar="FILE")

    suggest = sub.add_parser("suggest", help="pick a routine for your kind of knee pain",
                             description="Describe where your knee hurts; get the matching routines.")
    suggest.add_argument("words", nargs="*", help='for example: "outside of the knee"')

    for name, (module, text) in PLUGIN_COMMANDS.items():
        p = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        p.set_defaults(plugin=module)
        if command is not None and command != name:
            continue
        try:
            importlib.import_module(module).add_arguments(p)
        except Exception as exc:  # a broken optional part must not take the core commands down
            p.set_defaults(plugin_error=f"{name} is unavailable: {exc}")
    return parser


def add_timing_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rest", type=_positive_float, metavar="SECONDS", help="rest between sets (default: the routine's)")
    p.add_argument("--ready", type=_positive_float, metavar="SECONDS", default=None,
                   help="countdown to get into position before each exercise (default 15)")


def add_session_arguments(p: argparse.ArgumentParser) -> None:
    add_timing_arguments(p)
    p.add_argument("--text", action="store_true", help="text mode: print speech, type commands")
    p.add_argument("--time-scale", type=_positive_float, default=1.0, metavar="F",
                   help="multiply every wait by F (0.01 runs a hundred times faster)")
    p.add_argument("--events", metavar="FILE", help="write a JSON-lines event log to FILE")
    p.add_argument("--config", metavar="FILE", help="configuration file (default ~/.config/voicecoach/config.toml)")
    from voicecoach.voice.engine_names import ENGINE_CHOICES

    p.add_argument("--engine", choices=ENGINE_CHOICES, help="speech recognizer")
    p.add_argument("--model", metavar="DIR", help="vosk model folder")
    p.add_argument("--speaker", choices=["auto", "piper", "pyttsx3", "espeak-ng", "print"], help="speech output")
    p.add_argument("--input-device", metavar="NAME|INDEX", help="microphone")
    p.add_argument("--output-device", metavar="NAME|INDEX", help="speaker")
    p.add_argument("--no-checkins", action="store_true", help="don't ask about knee pain before and after")
    p.add_argument("--fresh", action="store_true", help="start from the beginning, even after an interrupted session")
    p.add_argument("--data-dir", metavar="DIR", help="where the session history is kept")
    p.add_argument("--no-history", action="store_true", help="don't record this session")
    p.add_argument("--view", choices=VIEWS, default="auto",
                   help="the screen: a large live panel (live), one line per set (plain), or off; "
                        "auto is live on a terminal and off in text mode")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number above zero, got {text!r}")
    return value


def session_settings(args: argparse.Namespace) -> SessionSettings:
    """The one typed settings object for `run`, `serve` and `plan`, from this command line."""
    overrides = {
        "speech.engine": getattr(args, "engine", None),
        "speech.model": getattr(args, "model", None),
        "speech.speaker": getattr(args, "speaker", None),
        "audio.input_device": getattr(args, "input_device", None),
        "audio.output_device": getattr(args, "output_device", None),
        "coach.pain_checkins": False if getattr(args, "no_checkins", False) else None,
        "data.folder": getattr(args, "data_dir", None),
    }
    return build_settings(
        config_file=getattr(args, "config", None), overrides=overrides,
        rest_seconds=getattr(args, "rest", None), ready_seconds=getattr(args, "ready", None),
        routine=getattr(args, "routine", "") or "", text=bool(getattr(args, "text", False)),
        time_scale=getattr(args, "time_scale", 1.0), events=getattr(args, "events", None),
        view=getattr(args, "view", None) or "auto", fresh=bool(getattr(args, "fresh", False)),
        record=not getattr(args, "no_history", False))


# -- commands ---------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    listings = list_routines()
    if not listings:
        print("No routines found. Put routine files in ~/.config/voicecoach/routines.")
        return 1
    rows = []
    for item in listings:
        if item.routine is None:
            rows.append((item.path.stem, f"(invalid: {item.problems[0].message})", "-", "-"))
            continue
        r = item.routine
        minutes = round(Plan(r).total_seconds() / 60)
        rows.append((r.name, r.title, str(len(r.exercises)), f"{minutes} min"))
    widths = [max(len(row[i]) for row in [("NAME", "TITLE", "EXERCISES", "ABOUT"), *rows]) for i in range(4)]
    for row in [("NAME", "TITLE", "EXERCISES", "ABOUT"), *rows]:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    routine = find_routine(args.routine)
    if args.json:
        print(json.dumps(routine.to_json(), indent=2, ensure_ascii=False))
        return 0
    print(format_routine(routine))
    return 0


def format_routine(r: Routine) -> str:
    plan = Plan(r)
    lines = [f"{r.title}  ({r.name})", f"Source: {r.source}"]
    if r.aliases:
        lines.append("Say: " + ", ".join(f'"start {a}"' for a in r.aliases))
    if r.all_equipment():
        lines.append("Equipment: " + ", ".join(r.all_equipment()))
    lines.append(f"About {round(plan.total_seconds() / 60)} minutes, {len(plan.set_keys())} sets "
                 "(a set is one round on one side).")
    for line in r.intro:
        lines.append(line)
    lines.append("")
    lines.append("Safety:")
    lines += [f"  - {s}" for s in r.safety]
    for i, ex in enumerate(r.exercises, 1):
        lines.append("")
        lines.append(f"{i}. {ex.name}: {plan.work_summary(ex)} [{plan.sets_in(i - 1)} sets]")
        if ex.equipment:
            lines.append("   Equipment: " + ", ".join(ex.equipment))
        if ex.optional_equipment:
            lines.append("   Can also use: " + "; ".join(ex.optional_equipment))
        for n, step in enumerate(ex.steps, 1):
            lines.append(f"   {n}) {step}")
        if ex.parts:
            lines.append("   Parts: " + "; ".join(ex.parts))
        for tip in ex.tips:
            lines.append(f"   Tip: {tip}")
        for harder in ex.harder:
            lines.append(f"   Harder: {harder}")
    return "\n".join(lines)


def cmd_plan(args: argparse.Namespace) -> int:
    # The same timings as `run` (the configuration, then the options), so the script is the session's.
    settings = session_settings(args)
    routine = find_routine(args.routine)
    timings = replace(settings.plan, brief=True) if args.brief else settings.plan
    sys.stdout.write(format_plan(Plan(routine, timings)))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    bad = 0
    for file in args.files:
        try:
            load_routine(file)
        except RoutineError as exc:
            bad += 1
            for problem in exc.problems:
                print(problem)
    if bad:
        print(f"{bad} of {len(args.files)} file(s) have problems.", file=sys.stderr)
        return 1
    print(f"{len(args.files)} file(s) OK.", file=sys.stderr)
    return 0


def cmd_suggest(args: argparse.Namespace) -> int:
    from voicecoach.core.suggest import format_suggestions
    text, code = format_suggestions(" ".join(args.words))
    print(text)
    return code


def cmd_run(args: argparse.Namespace) -> int:
    from voicecoach.app.run import run_session
    return run_session(session_settings(args))


def cmd_serve(args: argparse.Namespace) -> int:
    from voicecoach.app.serve import CANNOT_WORK, Server

    try:
        settings = session_settings(args)
    except UserError as exc:  # under systemd: one line in the journal, and the "cannot work" code
        print(f"serve: {exc}", file=sys.stderr)
        return CANNOT_WORK
    return Server(settings, routines=args.routines).run()


COMMANDS = {
    "list": cmd_list, "show": cmd_show, "plan": cmd_plan, "check": cmd_check,
    "suggest": cmd_suggest, "run": cmd_run, "serve": cmd_serve,
}


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    if words[:3] == ["models", "download", "voice"]:  # voices live in their own module
        from voicecoach.voice.voices import download_main

        return download_main(words[3:])
    parser = build_parser(next((w for w in words if not w.startswith("-")), ""))
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    # A closed pipe (`voicecoach plan x | head`) is not an error worth a traceback.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        if getattr(args, "plugin_error", None):
            raise UserError(args.plugin_error)
        if getattr(args, "plugin", None):
            return int(importlib.import_module(args.plugin).run(args) or 0)
        return COMMANDS[args.command](args)
    except RoutineError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    except UserError as exc:
        print(f"voicecoach: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("", file=sys.stderr)
        return 130


def _path(text: str) -> Path:
    return Path(text).expanduser()
