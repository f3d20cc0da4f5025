"""Video engines: the interface (base), the embedded local renderer, cloud adapters."""
