"""The HTTP API: Kubernetes REST conventions over the event log (see app.py for the map)."""
