"""Evidently HTML with its library and font written once per report directory, not per report.

Evidently 0.7 inlines its whole JavaScript bundle (about 3.5 MB) and an icon font (about 0.1 MB)
into every report, so a report of a few hundred sampled rows is 4+ MB and a project's reports
grow by that much per rendered partition. Here each report refers to one content-addressed copy
(`_evidently/evidently-<sha>.js`, `.woff2`) next to it: a report shrinks to its own data, opens
the same from disk (a classic <script src> loads from file://), and a new Evidently version
writes a new name instead of changing what older reports load. If Evidently's HTML no longer
contains the exact inline blocks, the report is written whole: bigger, never broken.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ASSETS_DIR = "_evidently"


def _inline_assets() -> tuple[str, str]:
    """Evidently's own inline JavaScript bundle and base64 font, as its template embeds them."""
    from evidently.legacy.utils import dashboard

    # Module-level functions with a leading double underscore: not name-mangled outside a class.
    return getattr(dashboard, "__load_js")(), getattr(dashboard, "__load_font")()


def _shared(directory: Path, text: str, suffix: str) -> str:
    """Write `text` once under directory/_evidently by its content hash; its relative path."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    name = f"{ASSETS_DIR}/evidently-{digest}{suffix}"
    target = directory / name
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        if suffix == ".woff2":
            import base64

            partial.write_bytes(base64.b64decode(text))
        else:
            partial.write_text(text, encoding="utf-8")
        partial.replace(target)
    return name


def report_html(snapshot: Any, directory: Path) -> str:
    """The snapshot's standalone HTML, its library and font shared under `directory`."""
    html = str(snapshot.get_html_str(as_iframe=False))
    script, font = _inline_assets()
    inline_script, inline_font = f"<script>{script}</script>", f"url(data:font/ttf;base64,{font})"
    if inline_script not in html or inline_font not in html:
        log.warning("Evidently's HTML layout changed: report written with its library inlined")
        return html
    html = html.replace(inline_script, f'<script src="{_shared(directory, script, ".js")}"></script>')
    return html.replace(inline_font, f"url({_shared(directory, font, '.woff2')})")
