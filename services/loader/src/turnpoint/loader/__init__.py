"""turnpoint.loader service."""
