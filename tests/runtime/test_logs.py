"""Structured logs: one JSON object per line, tagged with the plugin and query, secrets scrubbed."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from plugin_runtime import logs, sandbox


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("tests.runtime.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logs.set_secrets([])


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_plugin_and_query_ids_follow_the_call_into_its_thread(captured: io.StringIO) -> None:
    logger = logging.getLogger("tests.runtime.logs")

    async def call() -> None:
        with logs.bound(plugin_id="p1", query_id="q1"):
            await sandbox.run_in_thread(
                lambda: logger.info("inside the plugin", extra={"rows": 3}), timeout=5, what="t"
            )
        logger.info("after")

    asyncio.run(call())
    inside, after = lines(captured)
    assert inside["message"] == "inside the plugin" and inside["level"] == "info"
    assert (inside["plugin_id"], inside["query_id"], inside["rows"]) == ("p1", "q1", 3)
    assert "plugin_id" not in after and "query_id" not in after


def test_secret_values_are_scrubbed_from_messages_fields_and_tracebacks(captured: io.StringIO) -> None:
    logs.set_secrets(["hunter2-password", "abc"])  # too short to mask safely: ignored
    logger = logging.getLogger("tests.runtime.logs")
    try:
        raise ValueError("bad credentials hunter2-password")
    except ValueError:
        logger.exception("login as %s failed", "hunter2-password", extra={"url": "https://u:hunter2-password@h"})
    (entry,) = lines(captured)
    text = json.dumps(entry)
    assert "hunter2-password" not in text
    assert entry["message"] == "login as *** failed" and entry["url"] == "https://u:***@h"
    assert "ValueError: bad credentials ***" in str(entry["exception"])
    assert logs.redact("abc") == "abc"
