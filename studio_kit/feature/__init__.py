"""Features: episodes already rendered, assembled into short films, features and anthologies.

``model`` holds ``features/<id>.yaml``; ``assemble`` builds the feature from the episodes'
``render.json`` masters without regenerating anything (see docs/feature_bay.md).
"""
