"""The layout every chart is drawn with, as plain data: plotly's "simple_white" template with a
readable font, the legend under the plot and one set of margins.

``theme.template`` makes plotly's template object of it for figures drawn in Python. A page of
charts is sent it as JSON, made here from plotly's own template file without importing plotly:
plotly's validated template object is about 80 MB, which every web worker held for one string.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from sicdoc.figures import plotly_data

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
# Room under the plot for the x axis and a horizontal legend of up to two rows (heights given to
# ``themed`` assume the 50 px this used to be, so the plot area keeps its size).
BOTTOM_PX = 130
BASE = "simple_white"
LAYOUT: dict[str, Any] = {
    "font": {"family": FONT, "size": 13, "color": "#222222"},
    "margin": {"l": 60, "r": 20, "t": 70, "b": BOTTOM_PX},
    # Under the plot, at the foot of the figure: never over the title or the data.
    "legend": {
        "orientation": "h",
        "yref": "container",
        "yanchor": "bottom",
        "y": 0,
        "x": 0,
        "xanchor": "left",
    },
    "hoverlabel": {"font": {"family": FONT}},
}


@cache
def template_json() -> str:
    """The template as plotly JSON, sent once with a page of charts."""
    template = json.loads(plotly_data("templates", f"{BASE}.json").read_text(encoding="utf-8"))
    template["layout"] = _merged(template.get("layout", {}), LAYOUT)
    return json.dumps(template, separators=(",", ":"))


def _merged(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``update`` laid over it, nested objects merged as plotly's ``update`` does."""
    out = dict(base)
    for key, value in update.items():
        out[key] = (
            _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out
