"""turnpoint-alerts: the rule evaluator and the webhook notifier (SPEC §6, docs/alerts.md)."""
