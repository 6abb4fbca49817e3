"""Text mode's ends of the voice ports: typed commands in, printed speech out; and the
device listing's words for people."""

from __future__ import annotations

import io
import threading

import pytest

from voicecoach.core.commands import Command
from voicecoach.voice.base import Heard
from voicecoach.voice.devices import NO_DEVICES_HELP, format_devices
from voicecoach.voice.speakers import PrintSpeaker, make_speaker
from voicecoach.voice.typed import TypedListener


def listen(text: str) -> tuple[list[Heard], list[str], list[str]]:
    heard: list[Heard] = []
    unknown: list[str] = []
    closed: list[str] = []
    done = threading.Event()
    listener = TypedListener(io.StringIO(text), on_unknown=unknown.append)
    listener.start(heard.append, lambda r: (closed.append(r), done.set()))
    assert done.wait(5)
    return heard, unknown, closed


def test_typed_lines_become_commands_in_order():
    heard, unknown, closed = listen("next\n\n  Pause \nsay again\n3\n")
    assert [h.command for h in heard] == [Command("next"), Command("pause"), Command("repeat"),
                                          Command("number", 3)]
    assert heard[1].text == "Pause"
    assert all(h.start is None for h in heard)  # typed input has no audio times
    assert unknown == [] and closed == ["end of input"]


def test_unknown_lines_go_to_the_hint_callback():
    heard, unknown, closed = listen("nxet\nthe next one please\ndone")
    assert [h.command.name for h in heard] == ["done"]
    assert unknown == ["nxet", "the next one please"]
    assert closed == ["end of input"]


def test_end_of_input_is_reported_once_even_without_a_final_newline():
    _, _, closed = listen("")
    assert closed == ["end of input"]


def test_typed_listener_after_close_delivers_nothing():
    heard: list[Heard] = []
    closed: list[str] = []
    listener = TypedListener(io.StringIO("next\n"))
    listener.close()
    listener.start(heard.append, closed.append)
    listener.join(5)
    assert heard == [] and closed == []


def test_print_speaker_prints_each_line_and_flushes():
    class Spy(io.StringIO):
        flushes = 0

        def flush(self) -> None:
            Spy.flushes += 1
            super().flush()

    out = Spy()
    speaker = PrintSpeaker(out)
    speaker.say("Sit to stand.")
    speaker.stop()
    speaker.say("one")
    assert out.getvalue() == "coach: Sit to stand.\ncoach: one\n"
    assert Spy.flushes == 2
    assert not speaker.is_speaking()


def test_make_speaker_print_and_unknown_backends():
    out = io.StringIO()
    speaker = make_speaker("print", out=out)
    speaker.say("hello")
    assert out.getvalue() == "coach: hello\n"
    with pytest.raises(ValueError, match="unknown speaker"):
        make_speaker("shout")


def test_device_table_marks_defaults_and_says_how_to_choose():
    table = format_devices([
        {"index": 0, "name": "USB PnP Sound Device: Audio (hw:1,0)", "hostapi": "ALSA",
         "max_input_channels": 1, "max_output_channels": 0, "default_samplerate": 48000.0,
         "default_input": True, "default_output": False},
        {"index": 1, "name": "bcm2835 Headphones: - (hw:0,0)", "hostapi": "ALSA",
         "max_input_channels": 0, "max_output_channels": 8, "default_samplerate": 44100.0,
         "default_input": False, "default_output": True},
    ])
    lines = table.splitlines()
    assert lines[1].startswith("<") and "USB PnP" in lines[1] and "48000" in lines[1]
    assert lines[2].lstrip().startswith(">") and "Headphones" in lines[2]
    assert "--input-device" in table


def test_no_devices_is_a_friendly_message():
    assert format_devices([]) == NO_DEVICES_HELP
    assert "--text" in NO_DEVICES_HELP
