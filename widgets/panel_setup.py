"""Panel inside Voila, offline: inline Bokeh/Panel JS, ipywidgets comms (see STACK.md)."""

from __future__ import annotations

import os

_done = False


def setup_panel() -> None:
    global _done
    if _done:
        return
    os.environ.setdefault("BOKEH_RESOURCES", "inline")
    import holoviews as hv
    import panel as pn

    pn.extension(comms="ipywidgets", inline=True)
    hv.extension("bokeh", logo=False)
    _done = True
