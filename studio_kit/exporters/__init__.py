"""Exporters: write studio data to formats other tools open. Each module registers itself
in ``studio_kit.registry.EXPORTERS`` (the registry imports every module here)."""
