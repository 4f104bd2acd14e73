"""Secret values are checked where they enter and scrubbed, in every encoding, where text leaves."""

from __future__ import annotations

import base64
import json
import urllib.parse

import httpx
import pydantic
import pytest

from adapters._common import auth
from plugin_operator import models, progress, secrets
from plugin_operator.api import views
from plugin_runtime import errors, logs

SECRET = "sk-live-0123456789abcdef"


@pytest.mark.parametrize("raw", [SECRET + "\n", SECRET + "\r\n", SECRET])
def test_one_trailing_line_break_is_dropped(raw: str) -> None:
    assert secrets.clean("api_key", raw) == SECRET


@pytest.mark.parametrize("raw", [SECRET + "\n\n", "sk-\r\nlive", "sk-\nlive\n", "sk-\x00live", "sk-\tlive"])
def test_other_control_characters_are_invalid_spec_naming_the_reference_not_the_value(raw: str) -> None:
    with pytest.raises(progress.Failed) as failed:
        secrets.clean("api_key", raw)
    assert failed.value.reason == "InvalidSpec"
    assert "secretRefs[api_key]" in failed.value.message and "sk-" not in failed.value.message


def test_every_encoding_of_a_secret_is_redacted() -> None:
    raw = SECRET + "\n"
    logs.set_secrets([raw])
    try:
        encodings = [
            raw,
            SECRET,
            repr(raw),  # 'sk-…\n' as Python prints it
            repr(raw.encode()),  # b'sk-…\n' — httpx's "Illegal header value b'Bearer sk-…\n'"
            json.dumps(raw),
            urllib.parse.quote(raw, safe=""),
            base64.b64encode(raw.encode()).decode(),
            base64.b64encode(SECRET.encode()).decode().rstrip("="),
            base64.urlsafe_b64encode(raw.encode()).decode(),
        ]
        for text in encodings:
            redacted = logs.redact(f"backend said: {text} (end)")
            assert SECRET not in redacted and text not in redacted, redacted
            assert "***" in redacted
    finally:
        logs.set_secrets([])


def test_adapter_credentials_drop_a_trailing_newline_and_refuse_other_line_breaks() -> None:
    credentials = auth.from_secrets({"bearer_token": SECRET + "\r\n"})
    assert credentials.headers["Authorization"] == f"Bearer {SECRET}"
    httpx.Request("GET", "http://backend/", headers=credentials.headers)  # a header httpx accepts
    assert "***" in credentials.redact(repr(f"Bearer {SECRET}\n".encode()))
    with pytest.raises(errors.InvalidInput) as refused:
        auth.from_secrets({"api_key": "sk-\nlive"})
    assert "api_key" in refused.value.detail and "sk-" not in refused.value.detail


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"auth": {"password": "hunter2"}}, "config.auth.password"),
        ({"headers": {"Authorization": "Bearer hunter2"}}, "config.headers.Authorization"),
        ({"db": {"url": "postgresql://app:hunter2@db:5432/x"}}, "config.db.url"),
        ({"base_url": "https://user:hunter2@backend.example/"}, "config.base_url"),
        ({"sources": [{"name": "a", "client_secret": "hunter2"}]}, "config.sources[0].client_secret"),
    ],
)
def test_secret_looking_config_is_rejected_at_any_depth_without_echoing_it(config: dict, path: str) -> None:
    spec = {"version": "1", "contractFormat": "native", "adapter": "localsql", "config": config}
    with pytest.raises(pydantic.ValidationError) as invalid:
        models.PluginSpec.model_validate(spec)
    message = progress.describe_validation_error(invalid.value)
    assert path in message and "hunter2" not in message
    assert "hunter2" not in json.dumps(views.mask_secrets(config))


def test_ordinary_config_passes() -> None:
    config = {"base_url": "http://prometheus:9090", "timeout": "30s", "headers": {"X-Scope": "a"}, "nested": [{"k": 1}]}
    spec = {"version": "1", "contractFormat": "native", "adapter": "localsql", "config": config}
    assert models.PluginSpec.model_validate(spec).config == config
