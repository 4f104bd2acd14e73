"""Structured logging: one JSON object per line, tagged with the plugin and query being served.

The tags come from context variables bound around each plugin call (`bound`), and plugin code runs
in threads started with a copy of that context, so a plugin's own log lines carry them too.

Secret values are scrubbed from every line (`set_secrets`): plugins receive API keys and sometimes
echo them into exception messages; the runtime cannot stop that, but it can keep them out of logs
and out of the load errors it reports (`redact`).
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import datetime
import json
import logging
import sys
import urllib.parse
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["AUDIT_LOGGER", "JsonFormatter", "bound", "configure", "redact", "set_secrets", "variants"]

AUDIT_LOGGER = "plugin_runtime.audit"
_MASK = "***"
_MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words

_plugin_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("plugin_id", default=None)
_query_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("query_id", default=None)
_secrets: tuple[str, ...] = ()

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged as a field.
# kopf attaches its whole settings object to each record: noise, never a field worth a line.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "settings",
}
#: Per-request chatter of HTTP clients/servers: one line per probe would bury what matters.
_QUIET_AT_INFO = ("httpx", "httpcore", "aiohttp.access", "uvicorn.access")


def variants(value: str) -> set[str]:
    """Every form a secret may take in error text: raw and stripped of surrounding whitespace and
    line breaks, escaped as Python (`repr` of str and of bytes), JSON and URLs write it, and base64
    (standard and URL-safe, with and without padding — e.g. inside a Basic auth header)."""
    forms = {value, value.strip(), value.rstrip("\r\n")}
    for form in list(forms):
        raw = form.encode("utf-8")
        forms |= {
            repr(form)[1:-1],
            repr(raw)[2:-1],
            json.dumps(form)[1:-1],
            json.dumps(form, ensure_ascii=False)[1:-1],
            urllib.parse.quote(form, safe=""),
            urllib.parse.quote_plus(form),
        }
        for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
            text = encoded.decode("ascii")
            forms |= {text, text.rstrip("=")}
    return {form for form in forms if len(form) >= _MIN_SECRET_LENGTH}


def set_secrets(values: Iterable[str]) -> None:
    """Replace the set of values to scrub (the host calls this whenever the loaded plugins change)."""
    global _secrets
    # Longest first, so a secret containing another (or a longer encoding of it) is masked whole.
    _secrets = tuple(sorted({form for v in values for form in variants(v)}, key=len, reverse=True))


def redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, _MASK)
    return text


@contextlib.contextmanager
def bound(*, plugin_id: str | None = None, query_id: str | None = None) -> Iterator[None]:
    tokens = [_plugin_id.set(plugin_id) if plugin_id else None, _query_id.set(query_id) if query_id else None]
    try:
        yield
    finally:
        for var, token in zip((_plugin_id, _query_id), tokens, strict=True):
            if token is not None:
                var.reset(token)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        plugin_id, query_id = _plugin_id.get(), _query_id.get()
        if plugin_id:
            entry["plugin_id"] = plugin_id
        if query_id:
            entry["query_id"] = query_id
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_") and key != "color_message":
                entry[key] = _scrub(value)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str = "info") -> None:
    """Send every logger (uvicorn's included) through one JSON handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers[:] = []
        uvicorn_logger.propagate = True
    if root.level >= logging.INFO:
        for name in _QUIET_AT_INFO:
            logging.getLogger(name).setLevel(logging.WARNING)
    # At DEBUG the Kubernetes client logs whole response bodies, Secrets included: never below INFO.
    logging.getLogger("kubernetes.client.rest").setLevel(max(logging.INFO, root.level))
