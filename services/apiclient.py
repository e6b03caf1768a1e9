"""Asking a tiendo worker's HTTP API from the command line: ``GET`` a body or a JSON list, every failure one line."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import orjson


class ApiError(Exception):
    """The worker refused the request (``refused``: its 400 message) or could not be asked: one line."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


def get_body(url: str, path: str, params: dict[str, object], *, worker: str, timeout: float) -> bytes:
    """``GET <url><path>?params`` (None values left out): the body, or ApiError naming what went wrong (the
    worker's own message, an unreachable ``worker``)."""
    base = url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ApiError(f"--url: {url!r} is not an http:// or https:// address")
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    target = f"{base}{path}" + (f"?{query}" if query else "")
    try:
        with urllib.request.urlopen(target, timeout=timeout) as resp:  # noqa: S310 - scheme checked above
            body: bytes = resp.read()
            return body
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            message = orjson.loads(raw)["error"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            message = f"HTTP {exc.code} {exc.reason}: {raw[:200].decode(errors='replace')}"
        raise ApiError(" ".join(str(message).split()), refused=True) from None
    except (urllib.error.URLError, OSError) as exc:  # refused, unknown host, timed out
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise ApiError(f"the {worker} worker is not reachable at {base} ({reason})") from None


def get_list(url: str, path: str, params: dict[str, object], key: str, *, worker: str, timeout: float) -> list[Any]:
    """``GET <url><path>?params``: the JSON body's ``key`` list, or ApiError naming what went wrong (as
    :func:`get_body`, or an answer that is not that worker's)."""
    raw = get_body(url, path, params, worker=worker, timeout=timeout)
    base = url.rstrip("/")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(f"{base}{path} did not answer JSON: is {base} the {worker} worker?") from None
    found = body.get(key) if isinstance(body, dict) else None
    if not isinstance(found, list):
        raise ApiError(f"{base}{path} answered without a {key!r} list: is {base} the {worker} worker?")
    return found
