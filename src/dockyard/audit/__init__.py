"""Audit in SQL: the views of migration 0002_audit, time travel, and the log's hash chain."""

from __future__ import annotations

from dockyard.audit.projection import (
    AuditChangesProjection,
    ContainerRestartsProjection,
    ContainerRunsProjection,
)
from dockyard.audit.seals import SealsProjection
from dockyard.store.projections import Projection


def audit_projections() -> list[Projection]:
    """The audit read models, for store/registry.py's ``all_projections()``."""
    return [
        AuditChangesProjection(),
        ContainerRestartsProjection(),
        ContainerRunsProjection(),
        SealsProjection(),
    ]
