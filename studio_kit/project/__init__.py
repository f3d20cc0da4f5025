"""A series on disk: loading and validating it, scaffolding and building a new one, the
JSON Schemas of its files, where each episode stands, and the storyboard timeline model."""
