"""The validation verdict as one static HTML page: readable offline, in any browser.

Great Expectations' Data Docs index fills its tables with JavaScript from a CDN, so
offline it shows no results at all; this page needs nothing but the file itself.
"""

from __future__ import annotations

from html import escape

from vidops.data.quality import ERROR, QUARANTINE, RuleResult

_STYLE = """body{font-family:sans-serif;margin:2em;max-width:70em}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.3em .5em;
text-align:left;vertical-align:top}.pass{color:#176f2c}.fail{color:#b00020}
.quarantine{color:#a15c00}.warn{color:#7a6a00}"""


def verdict_html(success: bool, clips: int, rules: list[RuleResult],
                 quarantine: dict[str, list[str]]) -> str:
    verdict = "passed" if success else "FAILED"
    meaning = ("Training may use these clips (quarantined ones excepted)." if success else
               "An error rule failed: training is refused until the data is fixed.")
    rows = []
    for r in rules:
        status = "passed" if r.passed else {ERROR: "error", QUARANTINE: "quarantined"}.get(
            r.severity, "warning")
        css = "pass" if r.passed else {"error": "fail", "quarantined": "quarantine"}.get(status, "warn")
        examples = "<br>".join(escape(str(e)) for e in r.examples)
        rows.append(f"<tr><td>{escape(r.rule)}</td><td>{escape(r.severity)}</td>"
                    f'<td class="{css}">{status}</td><td>{r.failing}</td>'
                    f"<td>{escape(r.description)}</td><td>{examples}</td></tr>")
    held = "".join(f"<tr><td>{escape(path)}</td><td>{escape(', '.join(why))}</td></tr>"
                   for path, why in quarantine.items())
    quarantined = (f"<h2>Quarantined clips ({len(quarantine)})</h2><table><tr><th>clip</th>"
                   f"<th>rules</th></tr>{held}</table>" if quarantine else
                   "<p>No clip quarantined.</p>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>vidops validation: "
            f"{verdict}</title><style>{_STYLE}</style></head><body>"
            f"<h1>Validation {verdict} on {clips} clips</h1>"
            f'<p class="{"pass" if success else "fail"}">{meaning}</p>'
            f"<table><tr><th>rule</th><th>severity</th><th>result</th><th>failing</th>"
            f"<th>what it checks</th><th>examples</th></tr>{''.join(rows)}</table>"
            f"{quarantined}<p>The same verdict as reports/validation.json; Great Expectations' "
            f"own pages are in this folder (index.html, which needs a network connection "
            f"for its tables).</p></body></html>\n")
