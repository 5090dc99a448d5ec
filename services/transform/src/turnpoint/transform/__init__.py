"""turnpoint.transform service."""
