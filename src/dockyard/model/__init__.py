"""Resource kinds, defaults, validation and label selectors (Kubernetes semantics)."""
