"""Self-contained HTML pages of figures, for export: plotly.js is embedded once, no CDN, so the file
opens offline (clinical networks often have no internet access)."""

from __future__ import annotations

import html

import plotly.graph_objects as go
import plotly.io as pio

from sicdoc.figures.theme import with_template

PLOTLY_MAP_URL = "https://cdn.plot.ly/un/"
STYLE = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1b1b;max-width:1200px;"
    "margin:0 auto;padding:1rem 1.5rem}h1{font-size:1.6rem}h2{font-size:1.15rem;margin-top:2rem}"
    "p{color:#555}"
)


def standalone_html(
    title: str, intro: str, sections: list[tuple[str, list[go.Figure]]], *, filters: str | None = None
) -> str:
    """One page: a heading, the filters it was made with (a line of their own, when given) and an
    intro paragraph, then each section's heading and figures."""
    head = f"<h1>{html.escape(title)}</h1>"
    if filters:
        head += f'<p class="filters"><strong>{html.escape(filters)}</strong></p>'
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"{head}<p>{html.escape(intro)}</p>",
    ]
    first = True
    for heading, figures in sections:
        parts.append(f"<section><h2>{html.escape(heading)}</h2>")
        for fig in figures:
            parts.append(
                pio.to_html(
                    with_template(fig), full_html=False, include_plotlyjs=first, config={"displaylogo": False}
                )
            )
            first = False
        parts.append("</section>")
    parts.append("</body></html>")
    # plotly.js's only network default is where map outlines are fetched from; no chart here is a
    # map, and an exported file must not point at any server, so that default goes local.
    return "\n".join(parts).replace(PLOTLY_MAP_URL, "./topojson/")
