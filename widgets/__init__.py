"""Reusable studio surface components (ipywidgets, Bokeh via jupyter_bokeh) over studio_kit.

Notebooks in ``notebooks/`` only compose these; see docs/surfaces.md. Submodules are
imported on use (``from widgets.scene_controls import SceneControls``) so a surface
pays only for what it shows.
"""
