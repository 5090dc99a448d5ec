"""turnpoint.api service."""
