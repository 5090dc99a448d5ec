"""Versioned SQL migrations of turnpoint's shared schema, applied in order by `turnpoint loader migrate`.

Files are named `NNNN_name.sql` (plain SQL, one transaction each). An applied migration must never change:
the runner keeps each file's checksum in `schema_migrations` and refuses to run when one differs.
"""
