"""The reconciler's way into blocking I/O: run a Kubernetes or database call in a thread, and turn a
transient failure into a `Retry` that says what is unavailable (the reason an admin sees)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from plugin_operator.progress import Retry
from plugin_runtime import errors

_P = ParamSpec("_P")
_T = TypeVar("_T")


async def kube(fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except errors.PluginUnavailable as exc:
        raise Retry(f"Kubernetes API unavailable: {exc.detail}", delay=5, reason="KubernetesUnavailable") from None
    except errors.Conflict as exc:  # a concurrent write (409): re-read and go again soon
        raise Retry(f"Kubernetes API conflict: {exc.detail}", delay=1, reason="Conflict") from None


async def db(fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except errors.PluginUnavailable as exc:
        raise Retry(exc.detail, delay=10, reason="DatabaseUnavailable") from None
