"""The HTTP write API (FastAPI): other teams post counts, readings and bars with bearer tokens."""
