"""The read models Dockyard maintains. Add a projection here and it is run and rebuildable."""

from __future__ import annotations

from dockyard.audit import audit_projections
from dockyard.store.objects import ObjectsProjection
from dockyard.store.projections import Projection


def all_projections() -> list[Projection]:
    return [ObjectsProjection(), *audit_projections()]
