"""The node agent: runtime seam, Docker runtime, pod workers, hooks, probes and back-off."""
