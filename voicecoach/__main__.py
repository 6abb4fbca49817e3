"""Lets `python -m voicecoach` work like the `voicecoach` command."""

from voicecoach.cli import main

raise SystemExit(main())
