"""The routines that ship with voicecoach, installed as the package data `voicecoach.routines`.

Only the YAML files here are routines; this file makes the folder a package, so that an
editable install finds it as well as a wheel does (see pyproject.toml).
"""
