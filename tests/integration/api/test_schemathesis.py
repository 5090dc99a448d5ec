"""Property-based run over the OpenAPI schema (in-process ASGI, seeded database): no server errors,
every status and body as documented. Bounded: MAX_EXAMPLES per operation.

`positive_data_acceptance` is left out on purpose: cursors are opaque (a schema-valid random string is
still not a cursor) and `from`/`to` instants are parsed by the API, so a 422 there is correct.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from integration.api.api_seed import api_settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from turnpoint.api.app import build_app

pytestmark = pytest.mark.timeout(120)
MAX_EXAMPLES = 30


def test_every_operation_conforms_to_the_schema(seeded_url: str) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", build_app(api_settings(seeded_url)))
    failures: dict[str, str] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        try:
            check()
        except Exception as exc:  # collect every operation's failure, then report them together
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:2000]
    assert operations >= 12
    assert not failures, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())
