"""The history's charts, drawn as small self-contained SVG: sessions per week stacked by routine,
and knee pain before and after each session beside the sets done.  `voicecoach history --plot`
writes them; the one-page report embeds them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from voicecoach.core import pain_rules


def _xml_text(text: str) -> str:
    # Routine names come from user files; drop characters XML 1.0 cannot carry at all.
    clean = "".join(c for c in text if c in "\t\n\r" or ord(c) >= 0x20)
    return escape(clean)


_COLOURS = ("#2e7d32", "#1565c0", "#ef6c00", "#6a1b9a", "#c62828", "#00838f", "#9e9d24")


def weekly_svg(weekly: Sequence[dict[str, Any]]) -> str:
    """A self-contained SVG bar chart of sessions per week, stacked by routine."""
    weeks = sorted({(r["week"], r["week_start"]) for r in weekly})
    routines = sorted({r["routine"] for r in weekly})
    counts = {(r["week"], r["routine"]): r["sessions"] for r in weekly}
    totals = [sum(counts.get((w, rt), 0) for rt in routines) for w, _ in weeks]
    top = max([1, *totals])
    left, right, chart_top, chart_h = 48, 16, 40, 200
    slot = 56
    width = left + right + slot * max(1, len(weeks))
    legend_h = 20 * len(routines)
    height = chart_top + chart_h + 40 + legend_h
    scale = chart_h / top
    base = chart_top + chart_h
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        "<title>Sessions per week</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="24" font-size="15" font-weight="bold">Sessions per week</text>',
    ]
    # Whole-number gridlines: sessions are counted, so halves would mislead.
    step = max(1, -(-top // 5))
    for value in range(0, top + 1, step):
        y = base - value * scale
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#ddd"/>'
        )
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value}</text>')
    if not weeks:
        parts.append(
            f'<text x="{left + 8}" y="{chart_top + chart_h / 2:.0f}">No sessions yet</text>'
        )
    for i, (week, week_start) in enumerate(weeks):
        x = left + slot * i + 10
        y = float(base)
        for j, routine in enumerate(routines):
            n = counts.get((week, routine), 0)
            if not n:
                continue
            h = n * scale
            y -= h
            parts.append(
                f'<rect x="{x}" y="{y:.1f}" width="{slot - 20}" height="{h:.1f}" '
                f'fill="{_COLOURS[j % len(_COLOURS)]}">'
                f"<title>{_xml_text(routine)}, week of {week_start}: {n}</title></rect>"
            )
        if totals[i]:
            parts.append(
                f'<text x="{x + (slot - 20) / 2:.0f}" y="{y - 4:.1f}" '
                f'text-anchor="middle">{totals[i]}</text>'
            )
        parts.append(
            f'<text x="{x + (slot - 20) / 2:.0f}" y="{base + 16}" '
            f'text-anchor="middle">{_xml_text(week[5:])}</text>'
        )
    parts.append(
        f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" stroke="#333"/>'
    )
    for j, routine in enumerate(routines):
        y = base + 40 + 20 * j
        parts.append(
            f'<rect x="{left}" y="{y - 10}" width="12" height="12" '
            f'fill="{_COLOURS[j % len(_COLOURS)]}"/>'
        )
        parts.append(f'<text x="{left + 18}" y="{y}">{_xml_text(routine)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def plot_svg(weekly: Sequence[dict[str, Any]], sessions: Sequence[dict[str, Any]],
             limits: pain_rules.PainLimits) -> str:
    """`--plot`: the sessions-per-week chart above the pain-and-sets chart, in one SVG."""
    charts = [weekly_svg(weekly), pain_svg(sessions, limits)]
    sizes = [(int(_attr(c, "width")), int(_attr(c, "height"))) for c in charts]
    width, height = max(w for w, _ in sizes), sum(h for _, h in sizes)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">']
    y = 0
    for chart, (_, h) in zip(charts, sizes, strict=True):
        parts.append(chart.replace("<svg ", f'<svg y="{y}" ', 1).strip())
        y += h
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _attr(svg: str, name: str) -> str:
    head = svg[: svg.index(">")]
    return head.split(f' {name}="', 1)[1].split('"', 1)[0]


PAIN_COLOURS = {"before": "#1565c0", "after": "#c62828"}


def pain_svg(sessions: Sequence[dict[str, Any]], limits: pain_rules.PainLimits) -> str:
    """Knee pain before and after each session (0-10, lines) beside the sets done (bars), oldest
    first, with the caution level of the pain-monitoring model drawn across."""
    left, right, top, chart_h = 48, 48, 40, 200
    slot = 28
    width = max(420, left + right + slot * max(1, len(sessions)))
    height = top + chart_h + 80
    base = top + chart_h
    most_sets = max([1, *(s["sets_done"] for s in sessions)])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        "<title>Knee pain and sets done per session</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="24" font-size="15" font-weight="bold">Knee pain and sets done</text>',
    ]
    for value in range(0, 11, 2):
        y = base - value * chart_h / 10
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value}</text>')
    parts.append(f'<text x="{width - right + 6}" y="{top - 6}">sets</text>')
    parts.append(f'<text x="{left - 6}" y="{top - 6}" text-anchor="end">pain</text>')
    y = base - limits.caution * chart_h / 10
    parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#ef6c00" '
                 'stroke-dasharray="6 4"/>')
    parts.append(f'<text x="{width - right - 4}" y="{y - 4:.1f}" text-anchor="end" fill="#ef6c00">'
                 f"caution level {limits.caution}</text>")
    if not sessions:
        parts.append(f'<text x="{left + 8}" y="{top + chart_h / 2:.0f}">No sessions yet</text>')
    points: dict[str, list[str]] = {"before": [], "after": []}
    for i, s in enumerate(sessions):
        x = left + slot * i + slot / 2
        day = datetime.fromtimestamp(s["started_at"]).strftime("%Y-%m-%d %H:%M")
        h = s["sets_done"] * chart_h / most_sets
        parts.append(
            f'<rect x="{x - slot / 2 + 5:.1f}" y="{base - h:.1f}" width="{slot - 10}" height="{h:.1f}" '
            f'fill="#c8e6c9"><title>{_xml_text(s["routine"])} {day}, {s["sets_done"]} sets done</title></rect>')
        for when in ("before", "after"):
            score = s[f"pain_{when}"]
            if score is None:
                continue
            py = base - score * chart_h / 10
            points[when].append(f"{x:.1f},{py:.1f}")
            parts.append(f'<circle cx="{x:.1f}" cy="{py:.1f}" r="3.5" fill="{PAIN_COLOURS[when]}">'
                         f"<title>{day} pain {when} {score} of 10</title></circle>")
    for when, pts in points.items():
        if len(pts) > 1:
            parts.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="{PAIN_COLOURS[when]}" '
                         'stroke-width="2"/>')
    parts.append(f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" stroke="#333"/>')
    if sessions:
        for i in sorted({0, len(sessions) - 1}):
            x = left + slot * i + slot / 2
            day = datetime.fromtimestamp(sessions[i]["started_at"]).strftime("%b %d")
            parts.append(f'<text x="{x:.0f}" y="{base + 16}" text-anchor="middle">{day}</text>')
        parts.append(f'<text x="{width - right + 6}" y="{base - chart_h + 4}">{most_sets}</text>')
    legend = [("pain before", PAIN_COLOURS["before"]), ("pain after", PAIN_COLOURS["after"]),
              ("sets done", "#c8e6c9")]
    for j, (label, colour) in enumerate(legend):
        x = left + 120 * j
        parts.append(f'<rect x="{x}" y="{base + 40}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 18}" y="{base + 50}">{label}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
