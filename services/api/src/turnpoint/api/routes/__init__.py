"""HTTP routes, grouped by what they read. Their dependencies are the aliases of `turnpoint.api.deps`."""

from __future__ import annotations

from turnpoint.api.deps import Db, Metrics, Repo, Settings

__all__ = ["Db", "Metrics", "Repo", "Settings"]
