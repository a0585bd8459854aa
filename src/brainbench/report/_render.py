"""Renderers of built sections: self-contained HTML, Markdown and JSON. They never compute."""

from __future__ import annotations

import base64
import json
import re
from importlib import resources
from typing import Any

from brainbench.report._model import Section

FORMAT = "brainbench-evidence"
FORMAT_VERSION = 1


def _template(name: str) -> str:
    return (resources.files("brainbench.report") / "templates" / name).read_text(encoding="utf-8")


def document(sections: list[Section], header: dict[str, Any]) -> dict[str, Any]:
    """The JSON document (``evidence.json``)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **header,
        "sections": [s.to_dict() for s in sections],
    }


def render_json(sections: list[Section], header: dict[str, Any]) -> str:
    return (
        json.dumps(document(sections, header), indent=2, sort_keys=False, ensure_ascii=False) + "\n"
    )


#: Limits of the evidence shown in the key findings box (all of them in section 12).
KEY_LIMITS = 4


def key_findings(sections: list[Section]) -> list[tuple[str, str, list[str]]]:
    """The key findings box, as (heading, css class, sentences) groups, drawn only from the
    claims table of section 12: the key claims by status (the confound-baseline claims are
    always key), the primary metric on every test set, and the first limits."""
    concl = next((s for s in sections if s.id == "conclusions"), None)
    if concl is None:
        return []
    claims = [c for c in concl.data.get("claims", []) if c.get("key")]
    groups = []
    for status, heading, css in (
        ("supported", "Supported by the evidence", "verdict-good"),
        ("not supported", "Not supported by the evidence", "verdict-bad"),
        ("not estimable", "Not estimable from this test set", "verdict-bad"),
    ):
        items = [c["sentence"] for c in claims if c["status"] == status]
        if items:
            groups.append((heading, css, items))
    if concl.data.get("estimates"):
        groups.append(("Primary metric on each test set", "verdict-none", concl.data["estimates"]))
    limits = list(concl.data.get("limits", []))[:KEY_LIMITS]
    if limits:
        groups.append(("Limits of the evidence", "verdict-bad", limits))
    return groups


def render_html(sections: list[Section], header: dict[str, Any]) -> str:
    import jinja2

    env = jinja2.Environment(
        autoescape=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined
    )
    tpl = env.from_string(_template("evidence.html"))
    view = []
    for s in sections:
        figs = [
            {**f.to_dict(), "data": base64.b64encode(f.svg_text.encode("utf-8")).decode("ascii")}
            for f in s.figures
        ]
        view.append({**s.to_dict(), "figures": figs})
    return tpl.render(
        findings=key_findings(sections),
        sections=view,
        css=_template("style.css"),
        title=header["title"],
        subtitle=header["subtitle"],
        version=header["brainbench_version"],
    )


#: ``<`` that could open an HTML tag, comment or declaration (Markdown passes raw HTML on).
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")


def md_safe(value: Any) -> str:
    """Text for Markdown in which names from the input (models, sites, labels) cannot open raw
    HTML: ``<script>`` becomes ``&lt;script>``, which renders as the text it was; line breaks
    become spaces. ``p < 0.05`` is left as written."""
    return _TAG_START.sub("&lt;", " ".join(str(value).splitlines()))


def _md_cell(value: str) -> str:
    return md_safe(value).replace("|", "\\|")


def render_markdown(sections: list[Section], header: dict[str, Any]) -> str:
    out = [f"# Evidence sheet: {md_safe(header['title'])}", "", md_safe(header["subtitle"]), ""]
    findings = key_findings(sections)
    if findings:
        concl = next(s for s in sections if s.id == "conclusions")
        out += [
            "## Key findings",
            "",
            f"(All of them in [section {concl.number}](#conclusions).)",
            "",
        ]
        for heading, _, items in findings:
            out += [f"**{heading}**", ""] + [f"- {md_safe(t)}" for t in items] + [""]
    out.append("## Contents")
    out.append("")
    for s in sections:
        flag = "" if s.status == "ok" else f" ({s.status})"
        out.append(f"{s.number}. [{s.title}](#{s.id}){flag}")
    out.append("")
    for s in sections:
        out.append(f'<a id="{s.id}"></a>')
        out.append("")
        flag = "" if s.status == "ok" else f" [{s.status}]"
        out.append(f"## {s.number}. {s.title}{flag}")
        out.append("")
        for m in s.missing:
            out.append(f"> Missing: {md_safe(m)}")
            out.append("")
        for t in s.text:
            out.append(md_safe(t))
            out.append("")
        for t in s.tables:
            out.append(f"**{md_safe(t.caption)}**")
            out.append("")
            out.append("| " + " | ".join(_md_cell(c) for c in t.columns) + " |")
            out.append("|" + "|".join(" --- " for _ in t.columns) + "|")
            if not t.rows:
                out.append("| " + " | ".join(["(none)"] + [""] * (len(t.columns) - 1)) + " |")
            for r in t.rows:
                out.append("| " + " | ".join(_md_cell(c) for c in r) + " |")
            out.append("")
            for n in t.notes:
                out.append(f"*{md_safe(n)}*")
                out.append("")
        for f in s.figures:
            out.append(f"![{md_safe(f.alt)}]({f.png})")
            out.append("")
            out.append(f"*{md_safe(f.title)}.* {md_safe(f.caption)} ([SVG]({f.svg}))")
            out.append("")
    out.append(f"---\nGenerated by brainbench {header['brainbench_version']}.")
    return "\n".join(out) + "\n"
