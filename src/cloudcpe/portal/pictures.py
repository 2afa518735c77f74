"""SVG pictures rendered on the server: the topology, a service chain, operation history.
Every text is escaped; colours follow the status (see STATUS_COLOURS and app.css)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

from cloudcpe.portal.overview import SiteView

STATUS_COLOURS = {
    "up": "#2e7d32",
    "in-sync": "#2e7d32",
    "COMPLETED": "#2e7d32",
    "working": "#b26a00",
    "syncing": "#b26a00",
    "PROCESSING": "#b26a00",
    "ROLLING_BACK": "#b26a00",
    "failed": "#c62828",
    "degraded": "#c62828",
    "FAILED_TEMP": "#c62828",
    "FAILED": "#c62828",
    "down": "#757575",
    "idle": "#757575",
    "empty": "#757575",
    "ROLLED_BACK": "#6d4c41",
}


def colour(status: str) -> str:
    return STATUS_COLOURS.get(status, "#757575")


def _text(x: float, y: float, text: str, size: int = 12, anchor: str = "start", **kw: str) -> str:
    extra = " ".join(f'{k.replace("_", "-")}="{escape(v)}"' for k, v in kw.items())
    return (
        f'<text x="{x:.0f}" y="{y:.0f}" font-size="{size}" text-anchor="{anchor}" {extra}>'
        f"{escape(text)}</text>"
    )


def _box(x: float, y: float, w: float, h: float, status: str, rx: int = 6) -> str:
    return (
        f'<rect x="{x:.0f}" y="{y:.0f}" width="{w:.0f}" height="{h:.0f}" rx="{rx}" '
        f'fill="white" stroke="{colour(status)}" stroke-width="3"/>'
    )


def _arrow(x1: float, y1: float, x2: float, y2: float) -> str:
    return (
        f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" stroke="#555" '
        f'stroke-width="2" marker-end="url(#arrow)"/>'
    )


_DEFS = (
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" '
    'markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/>'
    "</marker></defs>"
)


def topology(sites: Sequence[SiteView], pops: Mapping[str, str] | None = None) -> Markup:
    """Orchestrator -> sites -> devices -> chains, one row per site, coloured by status. A
    cloud site's device is a thin CPE (a tunnel end) and its chains run in a POP (`pops`: POP
    names by id, for those who may see them)."""
    row_h, width = 90, 1100
    rows = max(len(sites), 1)
    height = 40 + rows * row_h
    used = 600.0
    parts = [
        "",  # the <svg> element, once the width in use is known
        '<title id="topo-title">Topology: sites, their devices and service chains</title>',
        _DEFS,
        _box(10, height / 2 - 25, 130, 50, "up"),
        _text(75, height / 2 + 5, "orchestrator", 13, "middle", font_weight="bold"),
    ]
    if not sites:
        parts.append(_text(200, height / 2 + 5, "no sites yet", 14))
    for i, sv in enumerate(sites):
        y = 20 + i * row_h
        cy = y + 35
        parts.append(
            f'<path d="M140,{height / 2:.0f} C170,{height / 2:.0f} 170,{cy} 200,{cy}" '
            f'fill="none" stroke="#999" stroke-dasharray="4 3"/>'
        )
        parts.append(f'<g class="site" data-status="{escape(sv.status)}">')
        parts.append(_box(200, y + 5, 190, 60, sv.status))
        parts.append(_text(210, y + 28, f"{sv.site.name}", 13, font_weight="bold"))
        parts.append(_text(210, y + 47, f"tenant {sv.tenant_name} · {sv.site.lan_prefix}", 11))
        parts.append(_text(210, y + 60, f"status: {sv.status}", 10, fill=colour(sv.status)))
        x = 420
        if sv.device is None:
            parts.append(_text(x, cy + 4, "no device yet", 12, fill="#757575"))
        else:
            dv = sv.device
            parts.append(_arrow(390, cy, x, cy))
            parts.append(_box(x, y + 10, 150, 50, dv.status))
            cloud = sv.site.kind == "cloud"
            what = "thin CPE" if cloud else "device"
            parts.append(_text(x + 8, y + 30, f"{what} {dv.device.name}", 12))
            parts.append(_text(x + 8, y + 48, dv.status, 11, fill=colour(dv.status)))
            x += 150
            if cloud:
                pop = (pops or {}).get(sv.site.pop_id or "", "")
                parts.append(_arrow(x, cy, x + 25, cy))
                parts.append(_box(x + 25, y + 10, 120, 50, "up", rx=14))
                parts.append(_text(x + 33, y + 30, "POP" + (f" {pop}" if pop else ""), 12))
                parts.append(_text(x + 33, y + 48, "tunnel", 11))
                x += 145
            for svc in sv.services[:3]:
                parts.append(_arrow(x, cy, x + 25, cy))
                x += 25
                parts.append(_chain_inline(x, y + 12, svc.ns.name, svc.status, svc.functions))
                x += 10 + max(30 + 70 * max(len(svc.functions), 1), 12 + 6 * len(svc.ns.name) + 50)
                if x > width - 120:
                    break
            used = max(used, x + 20)
        parts.append("</g>")
    parts.append("</svg>")
    parts[0] = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {used:.0f} {height}" '
        f'role="img" aria-labelledby="topo-title" class="picture topology">'
    )
    return Markup("".join(parts))


def _chain_inline(
    x: float, y: float, name: str, status: str, functions: Sequence[dict[str, Any]]
) -> str:
    label = f"{name} ({status})"
    w = max(30 + 70 * max(len(functions), 1), 12 + 6 * len(label))
    out = [
        f'<g class="chain" data-status="{escape(status)}">',
        f'<rect x="{x:.0f}" y="{y:.0f}" width="{w:.0f}" height="46" rx="8" '
        f'fill="{colour(status)}" fill-opacity="0.12" stroke="{colour(status)}"/>',
        _text(x + 6, y + 12, label, 10),
    ]
    for j, fn in enumerate(functions):
        fx = x + 10 + 70 * j
        out.append(
            f'<rect x="{fx:.0f}" y="{y + 17:.0f}" width="62" height="24" rx="4" fill="white" '
            f'stroke="{colour(status)}"/>'
        )
        out.append(_text(fx + 31, y + 33, str(fn.get("function", "?")), 10, "middle"))
    out.append("</g>")
    return "".join(out)


def chain(functions: Sequence[dict[str, Any]], status: str) -> Markup:
    """LAN -> function -> ... -> WAN, the service's status as the colour."""
    n = max(len(functions), 1)
    width = 160 + 150 * n
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} 90" role="img" '
        f'aria-labelledby="chain-title" class="picture chain-picture">',
        f'<title id="chain-title">Service chain, LAN to WAN: '
        f"{escape(' -> '.join(str(f.get('name')) for f in functions))}</title>",
        _DEFS,
        _text(30, 50, "LAN", 14, "middle", font_weight="bold"),
    ]
    x = 60
    for fn in functions:
        parts.append(_arrow(x, 45, x + 30, 45))
        parts.append(_box(x + 30, 15, 110, 60, status))
        parts.append(_text(x + 85, 40, str(fn.get("name")), 13, "middle", font_weight="bold"))
        parts.append(_text(x + 85, 60, str(fn.get("function")), 11, "middle"))
        x += 150
    parts.append(_arrow(x, 45, x + 30, 45))
    parts.append(_text(x + 60, 50, "WAN", 14, "middle", font_weight="bold"))
    parts.append("</svg>")
    return Markup("".join(parts))


def operations_chart(ops: Sequence[dict[str, Any]]) -> Markup:
    """One bar per operation (oldest left): its duration, coloured by its final state."""
    ops = list(reversed(ops[:20]))
    width, height, base = 640, 200, 160
    longest = max([o["seconds"] or 0 for o in ops] + [0.001])
    bar = min(60.0, (width - 60) / max(len(ops), 1) - 8)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="ops-title" class="picture ops-chart">',
        '<title id="ops-title">Lifecycle operations of this service: duration per operation, '
        "coloured by state</title>",
        f'<line x1="50" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#555"/>',
        f'<line x1="50" y1="20" x2="50" y2="{base}" stroke="#555"/>',
        _text(45, 25, f"{longest:.2f} s", 10, "end"),
        _text(45, base, "0 s", 10, "end"),
    ]
    if not ops:
        parts.append(_text(width / 2, 90, "no operations yet", 13, "middle"))
    for i, o in enumerate(ops):
        h = max(2.0, (base - 25) * (o["seconds"] or 0) / longest)
        x = 60 + i * (bar + 8)
        parts.append(
            f'<rect x="{x:.0f}" y="{base - h:.0f}" width="{bar:.0f}" height="{h:.0f}" '
            f'fill="{colour(o["state"])}"><title>{escape(o["operation"])} '
            f"{escape(o['state'])}: {o['seconds']} s</title></rect>"
        )
        parts.append(_text(x + bar / 2, base + 14, o["operation"].lower(), 9, "middle"))
        parts.append(_text(x + bar / 2, base + 27, _hhmm(o["start_time"]), 9, "middle"))
    parts.append("</svg>")
    return Markup("".join(parts))


def _hhmm(iso: str | None) -> str:
    return datetime.fromisoformat(iso).strftime("%H:%M:%S") if iso else ""


def counters_chart(
    chart_id: str, title: str, rows: Sequence[tuple[str, int, int]], series: tuple[str, str]
) -> Markup:
    """Two horizontal bars per row (e.g. rx / tx bytes, or packets / bytes), each series
    scaled to its own largest value; the numbers are written beside the bars."""
    width, row_h, left = 640, 34, 170
    height = 30 + row_h * max(len(rows), 1)
    tops = [max([r[1] for r in rows] + [1]), max([r[2] for r in rows] + [1])]
    fills = ("#1565c0", "#6a1b9a")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{escape(chart_id)}-title" class="picture counters-chart">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
    ]
    for k, name in enumerate(series):
        parts.append(f'<rect x="{left + k * 150}" y="6" width="12" height="10" fill="{fills[k]}"/>')
        parts.append(_text(left + 16 + k * 150, 15, name, 11))
    if not rows:
        parts.append(_text(width / 2, 45, "no counters reported", 13, "middle"))
    span = width - left - 110
    for i, (label, *values) in enumerate(rows):
        y = 26 + i * row_h
        parts.append(_text(left - 8, y + 18, label[:28], 11, "end"))
        for k, value in enumerate(values):
            w = max(1.0, span * value / tops[k])
            by = y + 4 + k * 13
            parts.append(
                f'<rect x="{left}" y="{by}" width="{w:.0f}" height="11" fill="{fills[k]}">'
                f"<title>{escape(label)} {escape(series[k])}: {value}</title></rect>"
            )
            parts.append(_text(left + w + 4, by + 10, f"{value:,}", 10))
    parts.append("</svg>")
    return Markup("".join(parts))
