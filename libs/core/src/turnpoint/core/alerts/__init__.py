"""Alert rules (SPEC §6): the rules file, the alert record, and the rules as pure functions.

`rules` reads and validates a rules file (errors name the line), `model` holds the alert record and its
stable id, `evaluate` turns outliers, anomaly scores, rebound states, legs, job freshness and dead letters
into alerts, and `delivery` holds the pure parts of delivery (payload formats, backoff, cooldown).
Nothing here touches Kafka, HTTP or a database.
"""
