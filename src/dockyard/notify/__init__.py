"""Slack restart alerts: routes, facts, episodes, rendering, the outbox and its sender.

Importing this package registers the ``dockyard.io/v1 AlertRoute`` kind.
"""

from dockyard.notify import routes as _routes  # noqa: F401  (registers the kind)
