"""turnpoint.ingest service."""
