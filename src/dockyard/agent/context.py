"""What every pod worker shares: the engine, the control plane, back-off state, the probers."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dockyard.agent.backoff import Backoff
from dockyard.agent.client import ControlPlaneClient
from dockyard.agent.oom import OOM_HOLD_SECONDS
from dockyard.agent.probes import ProbeManager
from dockyard.agent.runtime import ContainerRuntime
from dockyard.store.events import NewEvent

__all__ = ["LABEL_NODE", "MIN_KILL_GRACE_SECONDS", "AgentContext"]

# The node an agent created a container for: one engine may serve several agents in tests (and
# an engine shared by mistake), and an agent only ever relists and removes its own node's.
LABEL_NODE = "io.dockyard.node"

# The kubelet's minimumGracePeriodInSeconds: what is left for TERM after a long preStop.
MIN_KILL_GRACE_SECONDS = 2.0


@dataclass
class AgentContext:
    node: str
    runtime: ContainerRuntime
    client: ControlPlaneClient
    crash_backoff: Backoff
    image_backoff: Backoff
    probes: ProbeManager
    host_ip: str
    resync_seconds: float = 10.0
    oom_hold_seconds: float = OOM_HOLD_SECONDS  # the wait for a late `oom` (agent/oom.py)

    def stamp(self, event: NewEvent) -> NewEvent:
        """Event metadata for what the agent records: who observed it."""
        metadata = {
            "actor": f"system:node:{self.node}",
            "groups": ["system:nodes"],
            "source": "agent",
            "verb": "observe",
            "node": self.node,
            **event.metadata,
        }
        return dataclasses.replace(event, metadata=metadata)
