"""A series on disk: loading and validating it (``series_folder``), the folder layout and
default characters and scenes of a new one (``scaffold``), the JSON Schemas of its files
(``schema``)."""
