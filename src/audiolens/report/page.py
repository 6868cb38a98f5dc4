"""The report's HTML: one page, its CSS and script inline, its data as JSON.

The page loads nothing from anywhere (no CDN, no fonts, no server): its style and its script
are written into it, and a Content-Security-Policy meta tag allows exactly those two (by their
SHA-256 hashes), the pictures beside the page (``img-src 'self'``) and nothing else, so neither
an inline event handler nor a ``<script>`` that got in with the data could run. The data is JSON
in ``<script type="application/json">`` blocks (never executed), with ``<``, ``>``, ``&`` and
U+2028/U+2029 written as ``\\uXXXX`` escapes, so no file name can end the block; the script
puts every value into the page as text (``textContent``), never as HTML.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Iterable
from importlib import resources
from typing import Any

from ..store._json import dumps

__all__ = ["csp", "detail_json", "render", "script_json"]

#: what ``script_json`` escapes, and how
_JSON_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


def _escape(text: str) -> str:
    for char, escape in _JSON_ESCAPES:  # str.replace: several times faster than translate
        if char in text:
            text = text.replace(char, escape)
    return text


def script_json(value: Any) -> str:
    """``value`` as JSON that can sit inside a ``<script>`` element of an HTML page.

    ``<``, ``>`` and ``&`` occur in JSON only inside strings, where ``\\u003c`` and the like
    mean the same characters to ``JSON.parse``; without them no ``</script>`` or ``<!--`` can
    appear. Lone surrogates are ``\\udcXX`` escapes (the text stays valid UTF-8).
    """
    return _escape(dumps(value))


def detail_json(info: dict[str, Any], tasks: Iterable[tuple[dict[str, Any], str | None]]) -> str:
    """One file's detail view as JSON for the page: ``info`` plus ``"tasks"``, a list of each
    task's facts with its ``"result"``, given as JSON text (from the store, not parsed here;
    escaped as :func:`script_json` escapes)."""
    parts = [f'{_small_json(meta)[:-1]},"result":{_raw(raw)}}}' for meta, raw in tasks]
    return f'{_small_json(info)[:-1]},"tasks":[{",".join(parts)}]}}'


def _small_json(value: dict[str, Any]) -> str:
    """:func:`script_json` of a dict of printable text and finite numbers, faster."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        text.encode("utf-8")  # lone surrogates: the careful way
    except (ValueError, UnicodeError):  # NaN
        return script_json(value)
    return _escape(text)


def _raw(text: str | None) -> str:
    return "null" if text is None else _escape(text)


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def csp(script: str, style: str) -> str:
    """The page's Content-Security-Policy: only this ``script`` and ``style`` (by hash) and
    pictures from beside the page."""
    return (
        f"default-src 'none'; script-src '{_sha256(script)}'; style-src '{_sha256(style)}'; "
        "img-src 'self'; base-uri 'none'; form-action 'none'"
    )


def render(*, title: str, source: str, data: Any, details: Iterable[str]) -> str:
    """The whole page.

    Parameters
    ----------
    title : the page's title (text; escaped here)
    source : where the data came from, printable (the store's path; escaped here)
    data : the table and the summary (read at once by the script)
    details : per file, its detail view's JSON (:func:`detail_json`), each in a block of its
        own (``id="file-<n>"``) after the script, parsed only when its detail view opens: a
        large store's table shows before these are read, and no view parses the others
    """
    script, style = _asset("page.js"), _asset("page.css")
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
            f'<meta http-equiv="Content-Security-Policy" content="{csp(script, style)}">\n',
            '<meta name="referrer" content="no-referrer">\n',
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
            f"<title>{html.escape(title)}</title>\n<style>{style}</style>\n</head>\n<body>\n",
            f"<header><h1>{html.escape(title)}</h1>",
            f'<p class="source">{html.escape(source)}</p></header>\n',
            _BODY,
            f'<script type="application/json" id="report-data">{script_json(data)}</script>\n',
            f"<script>{script}</script>\n",
            *(
                f'<script type="application/json" id="file-{i}">{d}</script>\n'
                for i, d in enumerate(details)
            ),
            "</body>\n</html>\n",
        ]
    )


#: the page's frame; the script fills it
_BODY = """\
<noscript><p class="warn">This report needs JavaScript to show its table.</p></noscript>
<main>
<section id="summary" aria-label="Summary"></section>
<section id="table-section" aria-label="Files">
<div class="tools">
<input id="search" type="search" placeholder="Search paths" aria-label="Search paths">
<span id="count" role="status"></span>
<button type="button" id="clear">Clear filters</button>
<label>Rows per page <select id="page-size">
<option>50</option><option selected>100</option><option>500</option><option>1000</option>
</select></label>
<button type="button" id="prev" aria-label="Previous page">&lsaquo;</button>
<span id="page"></span>
<button type="button" id="next" aria-label="Next page">&rsaquo;</button>
</div>
<div class="scroll"><table id="files"><thead></thead><tbody></tbody></table></div>
</section>
</main>
<aside id="detail" hidden aria-label="File details">
<button type="button" id="close" aria-label="Close">&times;</button>
<div id="detail-body"></div>
</aside>
"""
