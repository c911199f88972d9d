"""Keys: who may search and who may change the index. Compared in constant time, never logged.

A key comes as ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``. The document viewer is a page a
browser opens from a link, which cannot carry a header; when a search key is set, its links carry
a per-document token instead (an HMAC of the document id under the search key), which the search
response hands out with each citation. A token opens that one document and reveals no key.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import HTTPException, Request
from pydantic import SecretStr

from service.settings import Settings


def presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("x-api-key") or None


def key_matches(given: str | None, expected: SecretStr | None) -> bool:
    """Constant time in the keys' content and length (both are hashed before comparing)."""
    if given is None or expected is None:
        return False
    a = hashlib.sha256(given.encode()).digest()
    b = hashlib.sha256(expected.get_secret_value().encode()).digest()
    return hmac.compare_digest(a, b)


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status_code=401, detail=message, headers={"WWW-Authenticate": 'Bearer realm="khamtop"'})


def require_admin(request: Request) -> None:
    settings: Settings = request.app.state.settings
    if settings.admin_key is None:
        raise HTTPException(
            status_code=403, detail="the admin API is off: start the service with KHAMTOP_ADMIN_KEY set"
        )

    if not key_matches(presented_key(request), settings.admin_key):
        raise _unauthorized("this route needs the admin key (Authorization: Bearer KEY)")


def search_allowed(request: Request) -> bool:
    """Whether the request may ask and read documents: no search key is set, or it presents the
    search key or the admin key."""
    settings: Settings = request.app.state.settings
    if settings.search_key is None:
        return True
    given = presented_key(request)
    return key_matches(given, settings.search_key) or key_matches(given, settings.admin_key)


def require_search(request: Request) -> None:
    if not search_allowed(request):
        raise _unauthorized("this service needs a search key (Authorization: Bearer KEY)")


def viewer_token(settings: Settings, doc_id: str, collection: str = "default") -> str | None:
    """The token that opens ``doc_id`` of ``collection`` in the viewer, and no other collection's
    document of that id; None when no search key is set."""
    if settings.search_key is None:
        return None
    secret = settings.search_key.get_secret_value().encode()
    # The default collection's tokens are those made before collections existed.
    scope = doc_id if collection == "default" else f"{collection}\0{doc_id}"
    return hmac.new(secret, b"viewer\0" + scope.encode(), hashlib.sha256).hexdigest()[:32]


def viewer_allowed(settings: Settings, doc_id: str, token: str | None, collection: str = "default") -> bool:
    expected = viewer_token(settings, doc_id, collection)
    return expected is None or (token is not None and hmac.compare_digest(expected.encode(), token.encode()))
