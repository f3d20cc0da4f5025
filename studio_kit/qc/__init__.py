"""Vision QC: scorers registered in ``studio_kit.registry.SCORERS`` (see docs/quality.md).

Every module of this package is imported on the first registry lookup and registers its
scorer: technical, character, continuity, embedding, lipsync, vlm. Thresholds per tier are
in ``thresholds.py``; ``runner.qc_result`` scores a generated shot and records the scores.
"""
