"""The translation benchmark's corpus translates, and its report has the agreed form (not timed)."""

from __future__ import annotations

import re

from bench import corpus, translation
from plugin_runtime import odata


def test_the_corpus_is_large_enough_and_every_request_translates() -> None:
    cases = translation.cases()
    assert len(corpus.PROMQL_FILTERS) >= 50 and len(corpus.ES_FILTERS) >= 50 and len(corpus.GRAPHQL_FILTERS) >= 50
    assert len(set(corpus.PROMQL_FILTERS)) == len(corpus.PROMQL_FILTERS)
    assert len(set(corpus.ES_FILTERS)) == len(corpus.ES_FILTERS)
    for language, requests in cases.items():
        for plugin, query_id, options in requests:
            assert plugin.translate(query_id, odata.parse_params(options)).language == language


def test_run_reports_percentiles_and_where_cold_time_goes() -> None:
    lines = translation.run(rounds=1)
    number = r"[0-9]+\.[0-9] µs"
    for language in ("promql", "es-dsl", "graphql"):
        for phase in ("cold", "warm"):
            assert (
                sum(
                    bool(re.fullmatch(rf"translation {language} {phase}: p50 {number}, p99 {number}", line))
                    for line in lines
                )
                == 1
            )
    assert re.fullmatch(r"translation cold time: promql parse \d+% .* / translate \d+% .*; es-dsl parse .*", lines[-1])
