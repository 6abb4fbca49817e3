"""The record of pain-guided training: `voicecoach history` shows the pain trend and each
decision, `--json` carries them, `--plot` draws pain beside the sets done and `--report`
writes a one-page HTML report with adherence, pain trend and decisions."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from history_cli import report

from voicecoach.core import pain_rules
from voicecoach.store.history import DB_FILENAME, History

DAY = 86400.0
SVG = "{http://www.w3.org/2000/svg}"
STEP_DOWN_WHY = "Last time pain rose from 2 to 4 during the session, so the targets go down one step."


@pytest.fixture
def trend(tmp_path: Path) -> Path:
    """Three sessions of one routine: calm, then a rise, then a step down with pain during."""
    start = time.time() - 10 * DAY
    with History.open(tmp_path / DB_FILENAME) as h:
        for day, (before, after, during, decision) in enumerate([
            (2, 2, None, None), (2, 4, None, None), (3, 3, 6, (pain_rules.STEP_DOWN, STEP_DOWN_WHY)),
        ]):
            at = start + day * 2 * DAY
            sid = h.start_session("mini", "Mini", at, planned_sets=3)
            if decision:
                h.record_decision(sid, kind=decision[0], reason=decision[1], at=at)
            h.record_pain(sid, when="before", score=before, at=at + 1)
            for n in range(1, 4 - (during is not None)):
                h.record_set(sid, exercise="Lifts", exercise_index=0, set_no=n, sets=3, side=None, side_index=0,
                             kind="reps", done=3, target=3, finished_at=at + 10 * n)
            if during is not None:
                h.record_pain(sid, when="during", score=during, at=at + 40, note="Lifts")
                h.record_decision(sid, kind=pain_rules.SKIP_FOR_PAIN, reason="Pain of 6 out of 10 is at or above "
                                  "the caution level of 5. Skipped Lifts.", at=at + 41)
            h.record_pain(sid, when="after", score=after, at=at + 60)
            h.end_session(sid, outcome="finished", ended_at=at + 70)
    return tmp_path


def test_the_table_shows_the_pain_trend_and_each_decision(trend):
    code, out, _ = report(trend)
    assert code == 0
    rows = out.splitlines()
    assert "3->3 (during 6)" in rows[2] and "2->4" in rows[3] and "2->2" in rows[4]
    assert "Decisions (pain-monitoring model):" in out
    assert f"stepped down: {STEP_DOWN_WHY}" in out
    assert "exercise skipped for pain: Pain of 6 out of 10" in out


def test_json_carries_the_pain_and_the_decisions(trend):
    data = json.loads(report(trend, "--json")[1])
    assert [(s["pain_before"], s["pain_after"], s["pain_worst_during"]) for s in data] == [
        (2, 2, None), (2, 4, None), (3, 3, 6)]
    assert [d["kind"] for d in data[2]["decisions"]] == [pain_rules.STEP_DOWN, pain_rules.SKIP_FOR_PAIN]
    assert data[2]["decisions"][0]["reason"] == STEP_DOWN_WHY


def test_plot_draws_pain_over_time_beside_the_sets_done(trend, tmp_path):
    svg = tmp_path / "chart.svg"
    code, out, _ = report(trend, "--plot", str(svg), "--weeks", "4")
    assert code == 0 and str(svg) in out
    root = ET.parse(svg).getroot()
    titles = [t.text or "" for t in root.iter(f"{SVG}title")]
    assert titles[0] == "Sessions per week" and "Knee pain and sets done per session" in titles
    pain = [t for t in titles if " pain " in t]
    assert [t.split()[-3] for t in pain if "before" in t] == ["2", "2", "3"]
    assert [t.split()[-3] for t in pain if "after" in t] == ["2", "4", "3"]
    assert [t.rsplit(", ", 1)[1] for t in titles if t.endswith("sets done")] == [
        "3 sets done", "3 sets done", "2 sets done"]
    texts = {t.text for t in root.iter(f"{SVG}text")}
    assert "caution level 5" in texts
    assert len(list(root.iter(f"{SVG}polyline"))) == 2


class _Page(HTMLParser):
    """Checks that every opened element is closed in order, and keeps the text."""

    VOID = {"meta", "br", "img", "circle", "rect", "line", "polyline", "path"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.text: list[str] = []
        self.headings: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)
        self._in_h2 = tag == "h2"

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-3:])
        self.stack.pop()
        self._in_h2 = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_h2:
            self.headings.append(data)


def test_report_writes_one_page_with_adherence_pain_trend_and_decisions(trend, tmp_path):
    page_path = tmp_path / "report.html"
    code, out, _ = report(trend, "--report", str(page_path), "--weeks", "4")
    assert code == 0 and f"Wrote a one-page report to {page_path}" in out
    html = page_path.read_text(encoding="utf-8")
    page = _Page()
    page.feed(html)
    page.close()
    assert page.stack == []
    text = " ".join(" ".join(page.text).split())
    assert page.headings == ["Adherence", "Knee pain (0 to 10) and sets done", "Decisions",
                             "The pain-monitoring model"]
    assert "3 sessions (3 finished)" in text and "8 of 9 planned sets done (89%)" in text
    assert STEP_DOWN_WHY in text and "stepped down" in text and "exercise skipped for pain" in text
    assert "Thomeé" in text and "Silbernagel" in text
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_report_and_plot_without_history_are_still_written(tmp_path):
    page, svg = tmp_path / "r.html", tmp_path / "c.svg"
    assert report(tmp_path / "none", "--report", str(page), "--plot", str(svg))[0] == 0
    assert "No decisions recorded yet." in page.read_text(encoding="utf-8")
    assert "No sessions yet" in {t.text for t in ET.parse(svg).getroot().iter(f"{SVG}text")}
