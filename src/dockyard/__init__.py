"""Dockyard: a container orchestrator with Kubernetes semantics and an append-only event log."""

__version__ = "0.1.0"
