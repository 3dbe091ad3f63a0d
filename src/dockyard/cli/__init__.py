"""The dockyard command."""
