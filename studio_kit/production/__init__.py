"""Production decisions and paid work: engine routing, Gate A budget, the idempotent
generation entry point, the attempt loop, regeneration, Gates B and C, LoRA training."""
