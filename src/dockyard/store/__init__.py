"""The event log in PostgreSQL, its projections and read models."""
