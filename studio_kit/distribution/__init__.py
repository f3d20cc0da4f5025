"""Per-platform deliverables from a Gate C approved master (docs/distribution.md)."""
