"""The checks of the conformance kit (`plugin_runtime.testing`), run on a loaded plugin instance.

Each check appends `Finding`s and never stops the others, so one run reports everything that is
wrong. Plugin code is called in a daemon thread with a time limit, as the runtime calls it.
"""

from __future__ import annotations

import inspect
import itertools
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from fastapi.encoders import jsonable_encoder

from plugin_runtime import errors, gts, interface, loader, metadata, odata
from plugin_runtime.testing.cases import Finding, Fixtures, TranslationCase

__all__ = ["STEPS", "run"]

T = TypeVar("T")
_UNKNOWN = "conformance_no_such_property"
#: Options naming a property no plugin has: the caller's error (400/501) or an answer, never a failure.
_HOSTILE: tuple[dict[str, str], ...] = ({"$filter": f"{_UNKNOWN} eq 1"}, {"$orderby": f"{_UNKNOWN} desc"})
_CALLER_OUTCOMES = (200, 400, 501)


class _Timeout(Exception):
    pass


def _in_thread(fn: Callable[..., T], *args: Any, timeout: float) -> T:
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = fn(*args)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True, name="conformance-call")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise _Timeout(f"did not return within {timeout:g}s")
    if "error" in outcome:
        raise outcome["error"]
    value: T = outcome["value"]
    return value


def _raised(exc: BaseException) -> str:
    if isinstance(exc, errors.PluginError):
        return f"{type(exc).__name__} ({exc.status}): {exc.detail}"
    return f"{type(exc).__name__}: {exc}"


def _not_a_plugin_error(exc: BaseException) -> str:
    return (
        f"raised {_raised(exc)}, which the runtime answers with 500 plugin failure: raise a plugin_runtime "
        "error instead (InvalidQuery 400, NotSupported 501 via unsupported(), BackendError 502, "
        "PluginUnavailable 503, BackendTimeout 504)"
    )


def _subject(query_id: str, options: Mapping[str, str]) -> str:
    return f"{query_id} {dict(options)}" if options else query_id


def _sort_key(value: Any) -> tuple[int, Any]:
    """OData's order: null first, then numbers, then everything else by its text (as `shape_rows`)."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool | int | float):
        return (1, value)
    return (2, str(value))


class _Run:
    def __init__(self, plugin: loader.LoadedPlugin, fixtures: Fixtures) -> None:
        self.plugin, self.instance, self.fixtures = plugin, plugin.instance, fixtures
        self.queries = {query.id: query for query in plugin.config.queries}
        self.capabilities: dict[str, Mapping[str, Any]] = {}
        self.findings: list[Finding] = []

    def fail(self, check: str, subject: str, message: str) -> None:
        self.findings.append(Finding(check, subject, message))

    def call(self, check: str, subject: str, fn: Callable[..., T], *args: Any) -> T | None:
        """Plugin code with the time limit; any exception or a hang becomes a finding and None."""
        try:
            return _in_thread(fn, *args, timeout=self.fixtures.timeout_seconds)
        except _Timeout as exc:
            self.fail(check, subject, str(exc))
        except Exception as exc:
            self.fail(check, subject, f"raised {_raised(exc)}")
        return None

    # -- interface, metadata, queries ----------------------------------------------------------

    def check_interface(self) -> None:
        params = odata.ODataParams()
        ctx = interface.SecurityCtx(subject="conformance")
        calls: dict[str, tuple[Any, ...]] = {
            "init": (self.plugin.config,),
            "before_jwt_sign": (ctx, {}),
            "execute_query": (ctx, "query-id", params),
            "health_check": (),
            "shutdown": (),
            "metadata": (),
            "translate": ("query-id", params),
            "preprocess": (ctx, "query-id", params),
            "postprocess": (ctx, "query-id", interface.QueryResult((), "rows")),
        }
        for name, args in calls.items():
            method = getattr(self.instance, name, None)
            if method is None:
                continue  # required methods were checked by the loader; translate and the hooks are optional
            try:
                inspect.signature(method).bind(*args)
            except TypeError as exc:
                self.fail("interface", f"{name}()", f"cannot take the runtime's {len(args)} argument(s): {exc}")
            except ValueError:
                continue  # no signature to inspect (a builtin): calling it will tell
        claims = self.call("interface", "before_jwt_sign()", self.instance.before_jwt_sign, ctx, {"sub": "conformance"})
        if claims is not None and not isinstance(claims, dict):
            self.fail("interface", "before_jwt_sign()", f"must return the claims dict, got {type(claims).__name__}")

    def check_metadata(self) -> None:
        first = self.call("metadata", "metadata()", self.instance.metadata)
        second = self.call("metadata", "metadata()", self.instance.metadata)
        if first is None:
            return
        if not first.name.strip():
            self.fail("metadata", "metadata().name", "is empty: name the plugin for the people who operate it")
        if not isinstance(first.contract_format, interface.ContractFormat):
            self.fail("metadata", "metadata().contract_format", f"{first.contract_format!r} is not a ContractFormat")
        if second is not None and second != first:
            self.fail("metadata", "metadata()", "returns different values on each call: it must be fixed")

    def check_queries(self) -> None:
        if not self.queries:
            self.fail("queries", "plugin.yaml", "declares no queries: the plugin would serve nothing")
        for query in self.queries.values():
            for what, value, parse in (
                ("id", query.id, lambda v: gts.parse_instance(v, of_type=gts.QUERY_TYPE)),
                ("capabilities_id", query.capabilities_id, gts.parse_instance),
                ("returns_schema_id", query.returns_schema_id, gts.parse_type),
            ):
                try:
                    parse(value)
                except gts.InvalidGtsId as exc:
                    self.fail("queries", query.id, f"{what}: {exc}")
            if not query.api_endpoint.startswith("/"):
                self.fail("queries", query.id, f"api_endpoint {query.api_endpoint!r} must start with '/'")
        named = {case.query_id for case in self.fixtures.queries} | {c.query_id for c in self.fixtures.translations}
        for case_id in sorted(named - set(self.queries)):
            self.fail("queries", case_id, "a fixture names this query, but the plugin does not declare it")

    # -- health, capabilities -------------------------------------------------------------------

    def check_health(self) -> None:
        status = self.call("health", "health_check()", self.instance.health_check)
        if status is None:
            return
        if not isinstance(status, interface.HealthStatus):
            self.fail("health", "health_check()", f"must return HealthStatus, got {type(status).__name__}")
            return
        if status.status != self.fixtures.expect_health:
            detail = f" ({status.message})" if status.message else ""
            self.fail(
                "health", "health_check()", f"reports {status.status}{detail}, expected {self.fixtures.expect_health}"
            )
        for dependency in status.dependencies:
            if not isinstance(dependency, interface.DependencyHealth):
                self.fail("health", "health_check().dependencies", f"{dependency!r} is not a DependencyHealth")

    def check_capabilities(self) -> None:
        method = getattr(self.instance, "capabilities", None)
        if not callable(method):
            return
        for query in self.queries.values():
            try:
                inspect.signature(method).bind(query.id)
                value = self.call("capabilities", query.id, method, query.id)
            except TypeError:
                value = self.call("capabilities", query.id, method)
            if value is None:
                continue
            if not isinstance(value, Mapping):
                self.fail("capabilities", query.id, f"capabilities() must return a mapping, got {type(value).__name__}")
                continue
            properties = value.get("properties") or {}
            if not isinstance(properties, Mapping):
                self.fail("capabilities", query.id, "'properties' must map property names to Edm types")
                continue
            for name, edm in properties.items():
                if not isinstance(edm, str) or not edm.startswith("Edm."):
                    self.fail("capabilities", query.id, f"property {name!r} has type {edm!r}, not an Edm type")
            for key in value.get("key") or []:
                if key not in properties:
                    self.fail("capabilities", query.id, f"key {key!r} is not a declared property")
            try:
                json.dumps(metadata.document([(query, value)]))
            except (TypeError, ValueError) as exc:
                self.fail("capabilities", query.id, f"cannot become a $metadata document: {exc}")
                continue
            self.capabilities[query.id] = value

    # -- execution, OData shapes, error mapping --------------------------------------------------

    def execute(self, query_id: str, options: Mapping[str, str], ctx: interface.SecurityCtx) -> Any:
        """(result or the exception raised): the options parsed exactly as the runtime parses them."""
        try:
            params = odata.parse_params(dict(options))
        except errors.PluginError as exc:
            return exc
        try:
            return _in_thread(self.instance.execute_query, ctx, query_id, params, timeout=self.fixtures.timeout_seconds)
        except _Timeout as exc:
            return exc
        except Exception as exc:
            return exc

    def check_executions(self) -> None:
        for case in self.fixtures.queries:
            if case.query_id not in self.queries:
                continue  # reported by the queries check
            subject = _subject(case.query_id, case.options)
            outcome = self.execute(case.query_id, case.options, case.ctx)
            if isinstance(outcome, _Timeout):
                self.fail("execution", subject, str(outcome))
            elif isinstance(outcome, errors.PluginError):
                if outcome.status != case.status:
                    self.fail("execution", subject, f"expected {case.status}, but it raised {_raised(outcome)}")
                self.no_secret_in("errors", subject, outcome.detail)
            elif isinstance(outcome, Exception):
                self.fail("errors", subject, _not_a_plugin_error(outcome))
            elif case.status != 200:
                self.fail("execution", subject, f"expected {case.status}, but it answered with rows")
            else:
                self.shape(case.query_id, case.options, outcome, subject, expected_rows=case.rows)

    def check_hostile_input(self) -> None:
        if not self.fixtures.hostile_input:
            return
        for query_id in self.queries:
            for options in _HOSTILE:
                subject = _subject(query_id, options)
                outcome = self.execute(query_id, options, interface.SecurityCtx(subject="conformance"))
                if isinstance(outcome, _Timeout):
                    self.fail("errors", subject, str(outcome))
                elif isinstance(outcome, errors.PluginError):
                    if outcome.status not in _CALLER_OUTCOMES:
                        self.fail(
                            "errors",
                            subject,
                            f"raised {_raised(outcome)}: a property the plugin does not know is the caller's "
                            "error: raise InvalidQuery (400) or unsupported() (501)",
                        )
                    self.no_secret_in("errors", subject, outcome.detail)
                elif isinstance(outcome, Exception):
                    self.fail("errors", subject, _not_a_plugin_error(outcome))
                else:
                    self.shape(query_id, options, outcome, subject, expected_rows=None)

    def no_secret_in(self, check: str, subject: str, text: str) -> None:
        if any(secret and secret in text for secret in self.fixtures.secrets.values()):
            self.fail(check, subject, "the error text contains a secret value: never quote secrets back")

    def shape(
        self, query_id: str, options: Mapping[str, str], result: Any, subject: str, *, expected_rows: int | None
    ) -> None:
        if not isinstance(result, interface.QueryResult):
            self.fail("odata", subject, f"execute_query must return QueryResult, got {type(result).__name__}")
            return
        params = odata.parse_params(dict(options))
        rows = list(result.rows)
        bad = [row for row in rows if not isinstance(row, Mapping) or not all(isinstance(k, str) for k in row)]
        if bad:
            self.fail("odata", subject, f"every row must be a mapping with string keys, got {bad[0]!r}")
            return
        expected_set = self.queries[query_id].entity_set
        if result.entity_set != expected_set:
            self.fail(
                "odata",
                subject,
                f"entity_set is {result.entity_set!r}, but $metadata describes the query as {expected_set!r} "
                "(return QueryDefinition.entity_set)",
            )
        try:
            json.dumps(result.to_odata(context="$metadata#x"), allow_nan=False, default=jsonable_encoder)
        except (TypeError, ValueError) as exc:
            self.fail("odata", subject, f"rows must hold JSON values (or datetimes, decimals): {exc}")
        if params.top is not None and len(rows) > params.top:
            self.fail("odata", subject, f"returned {len(rows)} rows for $top={params.top}")
        if params.select and "*" not in params.select:
            extra = sorted({key for row in rows for key in row} - set(params.select))
            if extra:
                self.fail("odata", subject, f"rows carry {extra} beyond $select={','.join(params.select)}")
        if params.count and (not isinstance(result.count, int) or result.count < len(rows)):
            self.fail(
                "odata", subject, f"$count=true needs the total count (>= the rows returned), got {result.count!r}"
            )
        if not params.count and result.count is not None:
            self.fail("odata", subject, "returned a count without $count=true")
        self.ordered(subject, params, rows)
        self.declared_properties(query_id, subject, rows)
        if expected_rows is not None and len(rows) != expected_rows:
            self.fail("execution", subject, f"returned {len(rows)} rows, expected {expected_rows}")

    def ordered(self, subject: str, params: odata.ODataParams, rows: list[Mapping[str, Any]]) -> None:
        if not params.orderby or not all(order.property in row for row in rows for order in params.orderby):
            return
        keys = [tuple(_sort_key(row[o.property]) for o in params.orderby) for row in rows]
        for before, after in itertools.pairwise(keys):
            for order, left, right in zip(params.orderby, before, after, strict=True):
                if left == right:
                    continue
                if (left > right) != order.descending:
                    self.fail("odata", subject, f"rows are not ordered by {order.property} as $orderby asks")
                    return
                break

    def declared_properties(self, query_id: str, subject: str, rows: list[Mapping[str, Any]]) -> None:
        capabilities = self.capabilities.get(query_id)
        if capabilities is None or capabilities.get("open_type"):
            return
        declared = set(capabilities.get("properties") or {})
        undeclared = sorted({key for row in rows for key in row} - declared)
        if undeclared:
            self.fail(
                "odata", subject, f"rows carry {undeclared}, which capabilities() does not declare (not an open type)"
            )

    # -- translation ------------------------------------------------------------------------------

    def check_translations(self) -> None:
        method = getattr(self.instance, "translate", None)
        if not callable(method):
            for case in self.fixtures.translations:
                self.fail(
                    "translation", case.query_id, "a fixture asks for a translation, but the plugin has no translate()"
                )
            return
        cases = list(self.fixtures.translations) or [
            TranslationCase(case.query_id, case.options) for case in self.fixtures.queries if case.status == 200
        ]
        for case in cases:
            if case.query_id not in self.queries:
                continue
            subject = _subject(case.query_id, case.options)
            translation = self.call(
                "translation", subject, method, case.query_id, odata.parse_params(dict(case.options))
            )
            if translation is None:
                continue
            if not isinstance(translation, interface.Translation) or not translation.language:
                self.fail(
                    "translation",
                    subject,
                    f"translate() must return a Translation with a language, got {translation!r}",
                )
                continue
            if case.language is not None and translation.language != case.language:
                self.fail("translation", subject, f"language is {translation.language!r}, expected {case.language!r}")
            text = (
                translation.query if isinstance(translation.query, str) else json.dumps(translation.query, default=str)
            )
            if case.contains is not None and case.contains not in text:
                self.fail("translation", subject, f"the translated query does not contain {case.contains!r}: {text}")


STEPS: tuple[tuple[str, Callable[[_Run], None]], ...] = (
    ("interface", _Run.check_interface),
    ("metadata", _Run.check_metadata),
    ("queries", _Run.check_queries),
    ("health", _Run.check_health),
    ("capabilities", _Run.check_capabilities),
    ("execution", _Run.check_executions),
    ("errors", _Run.check_hostile_input),
    ("translation", _Run.check_translations),
)


def run(plugin: loader.LoadedPlugin, fixtures: Fixtures) -> tuple[tuple[str, ...], tuple[Finding, ...]]:
    """Run every check on a loaded plugin, then shut it down: (the checks run, the findings)."""
    checks = _Run(plugin, fixtures)
    for _, step in STEPS:
        step(checks)
    checks.call("shutdown", "shutdown()", checks.instance.shutdown)
    return (*(name for name, _ in STEPS), "shutdown"), tuple(checks.findings)
