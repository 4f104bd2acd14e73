"""OData $filter → PromQL: tables of (filter, expected PromQL), and what is refused and how."""

from __future__ import annotations

import datetime as dt
import re

import hypothesis
import promql_parser
import pytest
from hypothesis import strategies as st

from adapters.prometheus import timerange, translate
from plugin_runtime import errors, odata

M = translate.QuerySpec(metric="m")
ANY = translate.QuerySpec()
RATE = translate.QuerySpec(metric="m", rate="5m", aggregate="sum", by=("job",))
NOW = dt.datetime(2023, 11, 14, 23, 13, 20, tzinfo=dt.UTC)


def promql(filter_text: str | None, spec: translate.QuerySpec = M) -> str:
    tree = odata.parse_filter(filter_text) if filter_text is not None else None
    return translate.translate(tree, spec=spec, source=filter_text).expr


@pytest.mark.parametrize(
    ("filter_text", "spec", "expected"),
    [
        (None, M, "m"),
        ("metric eq 'http_requests_total'", ANY, "http_requests_total"),
        ("metric eq 'up' and job eq 'api'", ANY, 'up{job="api"}'),
        ("'api' eq job", M, 'm{job="api"}'),
        ("job ne 'api'", M, 'm{job!="api"}'),
        ("job eq null", M, 'm{job=""}'),
        ("job ne null", M, 'm{job!=""}'),
        ("contains(path,'/v1/a.b')", M, r'm{path=~"(?s:.*/v1/a\\.b.*)"}'),
        ("startswith(queue,'orders.')", M, r'm{queue=~"(?s:orders\\..*)"}'),
        ("endswith(queue,'(v2)')", M, r'm{queue=~"(?s:.*\\(v2\\))"}'),
        ("not contains(path,'x')", M, 'm{path!~"(?s:.*x.*)"}'),
        ("contains(path,'x') eq false", M, 'm{path!~"(?s:.*x.*)"}'),
        ("contains(path,'x') eq true", M, 'm{path=~"(?s:.*x.*)"}'),
        ("job in ('api','web')", M, 'm{job=~"api|web"}'),
        ("sensor in ('rack+1','rack|2','a.b')", M, r'm{sensor=~"rack\\+1|rack\\|2|a\\.b"}'),
        ("not (job in ('api','web'))", M, 'm{job!~"api|web"}'),
        ("sensor eq 'lab \"7\"\\x'", M, r'm{sensor="lab \"7\"\\x"}'),
        ("job eq 'it''s'", M, 'm{job="it\'s"}'),
        ("job eq 'a' or job eq 'b'", M, 'm{job=~"a|b"}'),
        ("job eq 'a.b' or startswith(job,'c')", M, r'm{job=~"a\\.b|(?s:c.*)"}'),
        ("job eq 'a' or code eq '500'", M, 'm{job="a"} or m{code="500"}'),
        ("job eq 'a' and (code eq '500' or path eq '/')", M, 'm{job="a",code="500"} or m{job="a",path="/"}'),
        ("not (job eq 'a' and code eq '500')", M, 'm{job!="a"} or m{code!="500"}'),
        ("not (job eq 'a' or code eq '500')", M, 'm{job!="a",code!="500"}'),
        ("job eq 'a' and job eq 'b'", M, 'm{job="a",job="b"}'),
        ("metric in ('a','b')", ANY, '{__name__=~"a|b"}'),
        ("metric eq 'a.b'", ANY, '{__name__="a.b"}'),
        ("startswith(metric,'node_')", ANY, '{__name__=~"(?s:node_.*)"}'),
        ("metric eq 'other'", M, '{__name__="m",__name__="other"}'),
        ("value gt 5", M, "m > 5"),
        ("value gt 5 and value le 10.5", M, "m > 5 <= 10.5"),
        ("5 lt value", M, "m > 5"),
        ("value eq -1 and value ne 0", M, "m == -1 != 0"),
        ("(job eq 'a' or code eq '500') and value ge 1", M, '(m{job="a"} or m{code="500"}) >= 1'),
        ("job eq 'api'", RATE, 'sum by (job) (rate(m{job="api"}[5m]))'),
        ("job eq 'a' or code eq '500'", RATE, 'sum by (job) (rate(m{job="a"}[5m]) or rate(m{code="500"}[5m]))'),
        ("value gt 0.1", RATE, "sum by (job) (rate(m[5m])) > 0.1"),
        (None, translate.QuerySpec(metric="m", aggregate="count"), "count (m)"),
        (None, translate.QuerySpec(metric="m", rate="1m"), "rate(m[1m])"),
    ],
)
def test_filters_translate_to_promql(filter_text: str | None, spec: translate.QuerySpec, expected: str) -> None:
    expr = promql(filter_text, spec)
    assert expr == expected
    promql_parser.parse(expr)  # every generated query is valid PromQL


def test_label_values_reach_promql_unchanged() -> None:
    expr = promql("sensor eq 'lab \"7\"\\x' and contains(path,'a.b|c')")
    selector = promql_parser.parse(expr)
    assert selector.name == "m"
    assert [(m.name, m.value) for m in selector.matchers.matchers] == [
        ("sensor", 'lab "7"\\x'),
        ("path", r"(?s:.*a\.b\|c.*)"),
    ]


@hypothesis.given(st.text(max_size=30))
def test_any_text_survives_promql_string_quoting(text: str) -> None:
    parsed = promql_parser.parse("m{l=" + translate.string_literal(text) + "}")
    assert parsed.matchers.matchers[-1].value == text


@hypothesis.given(st.text(max_size=12), st.text(max_size=12))
def test_string_function_regexes_mean_what_odata_means(needle: str, haystack: str) -> None:
    # RE2 and Python's re agree on escaped literals, '.*' and (?s:…), and Prometheus anchors matches.
    quoted = translate.quote_meta(needle)
    assert bool(re.fullmatch(quoted, haystack)) == (haystack == needle)
    assert bool(re.fullmatch(f"(?s:.*{quoted}.*)", haystack)) == (needle in haystack)
    assert bool(re.fullmatch(f"(?s:{quoted}.*)", haystack)) == haystack.startswith(needle)
    assert bool(re.fullmatch(f"(?s:.*{quoted})", haystack)) == haystack.endswith(needle)


@pytest.mark.parametrize(
    ("filter_text", "spec", "construct", "position"),
    [
        ("job gt 'a'", M, "job gt", 0),
        ("code eq '1' and tolower(job) eq 'a'", M, "tolower", 16),
        ("length(job) gt 3", M, "length", 0),
        ("job eq 'a' or value gt 1", M, "value", 14),
        ("color eq 'red' or not (timestamp eq 2023-11-14T22:13:20Z)", M, "timestamp", 23),
        ("timestamp le 2023-11-14T22:13:20Z", M, "timestamp le", 0),
        ("timestamp ne 2023-11-14T22:13:20Z", M, "timestamp ne", 0),
        ("timestamp eq 2023-11-14T22:13:20Z and timestamp ge 2023-11-14T22:00:00Z", M, "timestamp eq", 0),
        ("value in (1, 2)", M, "value in", 0),
        ("a/b eq 'x'", M, "a/b", 0),
        ("job ne 'a'", ANY, "$filter", None),
        ("metric eq 'a' or job eq 'x'", translate.QuerySpec(rate="5m"), "or", 14),
        (" and ".join(f"(a{i} eq 'x' or b{i} eq 'y')" for i in range(6)), M, "or", 11),
    ],
)
def test_valid_odata_promql_cannot_express_is_501_naming_construct_and_position(
    filter_text: str, spec: translate.QuerySpec, construct: str, position: int | None
) -> None:
    with pytest.raises(errors.NotSupported) as caught:
        promql(filter_text, spec)
    problem = caught.value.to_problem()
    assert problem["status"] == 501
    assert problem["construct"] == construct
    assert problem.get("position") == position
    assert construct in problem["detail"]


@pytest.mark.parametrize(
    ("filter_text", "message"),
    [
        ("job eq 5", "job is text"),
        ("job in ('a', 1)", "job is text"),
        ("value gt 'x'", "value is a number"),
        ("timestamp ge 5", "date-time"),
        ("timestamp ge 2023-11-14T22:13:20", "time zone"),
        ("contains(job, 5)", "string"),
        ("__name__ eq 'x'", "not a Prometheus label name"),
    ],
)
def test_ill_typed_filters_are_400(filter_text: str, message: str) -> None:
    with pytest.raises(errors.InvalidQuery) as caught:
        promql(filter_text)
    assert caught.value.status == 400
    assert message in caught.value.detail


def _time(filter_text: str, *, step: float = 60.0) -> timerange.Call | None:
    query = translate.translate(odata.parse_filter(filter_text), spec=M, source=filter_text)
    return timerange.call(query.expr, query.time, step=step, now=NOW)


def test_no_time_condition_is_an_instant_query_now() -> None:
    query = translate.translate(None, spec=M, source=None)
    assert timerange.call(query.expr, query.time, step=60, now=NOW) == timerange.Call(
        "/api/v1/query", (("query", "m"), ("time", "1700003600.000"))
    )


def test_timestamp_eq_is_an_instant_query_at_that_time() -> None:
    assert _time("timestamp eq 2023-11-14T22:23:20.5Z") == timerange.Call(
        "/api/v1/query", (("query", "m"), ("time", "1700000600.500"))
    )


@pytest.mark.parametrize(
    ("filter_text", "start", "end"),
    [
        ("timestamp ge 2023-11-14T22:13:20Z and timestamp le 2023-11-14T22:23:20Z", "1700000000.000", "1700000600.000"),
        ("timestamp gt 2023-11-14T22:13:20Z and timestamp lt 2023-11-14T22:23:20Z", "1700000060.000", "1700000599.999"),
        (
            "timestamp ge 2023-11-14T23:13:20+01:00 and timestamp le 2023-11-14T23:23:20+01:00",
            "1700000000.000",
            "1700000600.000",
        ),
        ("timestamp ge 2023-11-14 and timestamp le 2023-11-14T00:10:00Z", "1699920000.000", "1699920600.000"),
        ("timestamp ge 2023-11-14T23:08:20Z", "1700003300.000", "1700003600.000"),
        (
            "timestamp ge 2023-11-14T22:00:00Z and timestamp ge 2023-11-14T22:13:20Z"
            " and timestamp le 2023-11-14T22:23:20Z and timestamp le 2023-11-14T23:00:00Z",
            "1700000000.000",
            "1700000600.000",
        ),
    ],
)
def test_timestamp_bounds_make_a_range_query(filter_text: str, start: str, end: str) -> None:
    assert _time(filter_text) == timerange.Call(
        "/api/v1/query_range", (("query", "m"), ("start", start), ("end", end), ("step", "60"))
    )


def test_an_empty_time_range_needs_no_call() -> None:
    assert _time("timestamp ge 2023-11-14T22:23:20Z and timestamp lt 2023-11-14T22:23:20Z") is None


def test_too_many_points_are_refused_before_prometheus_refuses_them() -> None:
    with pytest.raises(errors.InvalidQuery) as caught:
        _time("timestamp ge 2023-11-01T00:00:00Z and timestamp le 2023-11-14T00:00:00Z", step=60)
    assert caught.value.extensions["option"] == "step"
    assert _time("timestamp ge 2023-11-01T00:00:00Z and timestamp le 2023-11-14T00:00:00Z", step=3600) is not None


@pytest.mark.parametrize(("raw", "seconds"), [(None, 60.0), ("30s", 30.0), ("1m30s", 90.0), ("15", 15.0)])
def test_step_comes_from_the_request_or_the_query_definition(raw: str | None, seconds: float) -> None:
    assert timerange.step_seconds(raw, default=60.0) == seconds


@pytest.mark.parametrize("raw", ["abc", "0s", "-5s"])
def test_a_bad_step_is_400(raw: str) -> None:
    with pytest.raises(errors.InvalidQuery) as caught:
        timerange.step_seconds(raw, default=60.0)
    assert caught.value.extensions["option"] == "step"
