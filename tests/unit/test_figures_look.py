"""The charts' look as plain data: the JSON a page of charts is sent is plotly's own template
object's, made without importing plotly."""

import json
import subprocess
import sys

import plotly.io as pio

from sicdoc.figures.look import FONT, template_json
from sicdoc.figures.theme import template


def test_the_template_sent_to_pages_is_the_one_figures_are_drawn_with():
    sent = json.loads(template_json())
    assert sent == json.loads(pio.json.to_json_plotly(template().to_plotly_json()))
    assert sent["layout"]["font"]["family"] == FONT
    assert sent["layout"]["plot_bgcolor"] == "white"  # plotly's simple_white underneath


def test_the_template_json_is_made_without_loading_plotly():
    probe = "import sys; from sicdoc.figures.look import template_json; template_json(); print('plotly' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
