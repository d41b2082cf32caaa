"""Reading a case with only its tracking number and query code (no account).

Rate limited per client and per tracking number, and a wrong code answers exactly like an
unknown tracking number (same message, same slow hash), so lookups never reveal whether a
tracking number exists."""

from __future__ import annotations

import asyncio

from fastapi import Request

from shared import querycode
from shared.auth import Principal
from shared.errors import NotFound, TooManyRequests, Unauthorized
from shared.ratelimit import SlidingWindow

NO_MATCH = "no case matches this tracking number and query code"
_DUMMY_HASH = querycode.hash_code("DUMMYQC2")


class QueryCodeGate:
    def __init__(self, per_minute: int) -> None:
        self.limiter = SlidingWindow(per_minute)

    def admit(
        self, request: Request, number: str, principal: Principal | None, query_code: str | None
    ) -> None:
        """Refuse a read with neither token nor code, and count code lookups."""
        if principal is not None:
            return
        if query_code is None:
            raise Unauthorized("give a bearer token or the query_code")
        client = request.client.host if request.client else "?"
        for key in (f"client:{client}", f"case:{number}"):
            wait = self.limiter.hit(key)
            if wait:
                raise TooManyRequests("too many query-code attempts; wait and retry", wait)

    async def verify(self, query_code: str | None, stored_hash: str | None) -> None:
        """NotFound unless the code matches the stored hash (None: no such case)."""
        ok = await asyncio.to_thread(querycode.verify, query_code or "", stored_hash or _DUMMY_HASH)
        if stored_hash is None or not ok:
            raise NotFound(NO_MATCH)
