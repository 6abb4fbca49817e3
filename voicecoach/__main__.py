"""Lets `python -m voicecoach` work like the `voicecoach` command."""

from voicecoach.app.cli import main

raise SystemExit(main())
