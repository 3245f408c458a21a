"""A bounded cache of finished responses (HTML pages and JSON bodies), keyed by URL.

Everything the dashboard shows is fixed once the app has started, except whether the background
evaluations are done, which is part of the key. So a page or an API answer is rendered or
serialised once and later requests get the same bytes, which keeps answers fast under many
concurrent clients. Only successful answers are kept; the least recently used go first.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, TypeVar

import pydantic_core
from fastapi import Request
from fastapi.responses import HTMLResponse, Response

__all__ = ["BoundedMemo", "ResponseCache"]

P = ParamSpec("P")
K = TypeVar("K")
V = TypeVar("V")
JSON = "application/json"


class ResponseCache:
    def __init__(self, state: Callable[[], object], max_entries: int = 512) -> None:
        self._state = state
        self._entries: OrderedDict[tuple[object, ...], tuple[bytes, str]] = OrderedDict()
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _key(self, request: Request) -> tuple[object, ...]:
        return (request.url.path, request.url.query, self._state())

    def _get(self, key: tuple[object, ...]) -> tuple[bytes, str] | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found

    def _put(self, key: tuple[object, ...], body: bytes, media_type: str) -> None:
        with self._lock:
            self._entries[key] = (body, media_type)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def page(self, handler: Callable[P, Response]) -> Callable[P, Response]:
        """Cache an HTML page handler whose first parameter is the request."""

        @functools.wraps(handler)
        def cached(*args: P.args, **kwargs: P.kwargs) -> Response:
            request = kwargs.get("request", args[0] if args else None)
            if not isinstance(request, Request):
                return handler(*args, **kwargs)
            key = self._key(request)
            found = self._get(key)
            if found is not None:
                return HTMLResponse(found[0])
            response = handler(*args, **kwargs)
            if response.status_code == 200 and isinstance(response, HTMLResponse):
                self._put(key, bytes(response.body), response.media_type or "text/html")
            return response

        return cached

    def json(self, handler: Callable[P, Any]) -> Callable[P, Response]:
        """Cache an API handler (it takes a ``request`` keyword; its return value is serialised
        as FastAPI would, and its declared response model still documents it)."""

        @functools.wraps(handler)
        def cached(*args: P.args, **kwargs: P.kwargs) -> Response:
            request = kwargs.get("request")
            if not isinstance(request, Request):
                raise TypeError("a cached API handler needs the request")
            key = self._key(request)
            found = self._get(key)
            if found is None:
                body = pydantic_core.to_json(handler(*args, **kwargs))
                self._put(key, body, JSON)
                found = (body, JSON)
            return Response(content=found[0], media_type=found[1])

        return cached


class BoundedMemo(Generic[K, V]):
    """A memo of computed figures that keeps at most ``max_entries`` (the least recently used go
    first), so that a crawl over every combination of query parameters cannot grow the server's
    memory without bound. The dict operations the figures use: ``in``, ``[]``, ``setdefault``."""

    def __init__(self, max_entries: int = 256) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._entries: OrderedDict[K, V] = OrderedDict()
        self.max_entries = max_entries

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __getitem__(self, key: K) -> V:
        value = self._entries[key]
        self._entries.move_to_end(key)
        return value

    def __len__(self) -> int:
        return len(self._entries)

    def setdefault(self, key: K, value: V) -> V:
        if key in self._entries:
            return self[key]
        self._entries[key] = value
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return value
