"""How the operator's runtime client classifies answers: what stands in front of a runtime saying it
is not there yet is "unavailable, retry soon", while the runtime's own refusals stay errors."""

import httpx
import pytest

from plugin_operator.runtime_client import RuntimeClient
from plugin_runtime import errors


def _client(status: int, body: str) -> RuntimeClient:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text=body, headers={"content-type": "text/plain"})

    return RuntimeClient(transport=httpx.MockTransport(answer))


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_a_gateway_without_a_ready_pod_means_unavailable(status: int) -> None:
    client = _client(status, "no ready pod behind Service default/p-1")
    with pytest.raises(errors.PluginUnavailable) as caught:
        await client.admin("http://p-1.default.svc:80", "t", "enable", "p")
    assert "no ready pod" in caught.value.detail and str(status) in caught.value.detail
    await client.aclose()


@pytest.mark.parametrize("status", [400, 403, 404, 409, 500])
async def test_the_runtimes_own_refusals_stay_errors(status: int) -> None:
    client = _client(status, "refused")
    with pytest.raises(errors.PluginError) as caught:
        await client.admin("http://p-1.default.svc:80", "t", "enable", "p")
    assert not isinstance(caught.value, errors.PluginUnavailable)
    assert caught.value.extensions["upstream_status"] == status
    await client.aclose()
