"""turnpoint.model service."""
