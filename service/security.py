"""Keys: who may search and who may change the index. Compared in constant time, never logged.

A key comes as ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``. The document viewer is a page a
browser opens from a link, which cannot carry a header; when a search key is set, its links carry
a per-document token instead (an HMAC of the document id under the search key), which the search
response hands out with each citation. A token opens that one document and reveals no key.
"""

from __future__ import annotations

import hashlib
import hmac

from dataclasses import dataclass

from fastapi import HTTPException, Request
from pydantic import SecretStr

from service.keys import KeySet, scope_secret
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


@dataclass(frozen=True)
class Access:
    """What a presented key grants: ``collection`` None for the environment's (global) keys;
    ``only``: a scoped key's fixed filter (service.keys.scope_key), as the API's ``filter``."""

    role: str  # "search" or "admin"
    collection: str | None
    only: dict | None = None


def _keys(request: Request) -> KeySet:
    store = getattr(request.app.state, "keys", None)
    return store.current() if store is not None else KeySet((), None)


_UNSET = object()


def access_of(request: Request) -> Access | None:
    """What the request's key grants (None: no key, or one that is no key of this service);
    worked out once per request, so that every check of one request sees the same answer."""
    cached = getattr(request.state, "khamtop_access", _UNSET)
    if cached is _UNSET:
        cached = _access(request)
        request.state.khamtop_access = cached
    return cached


def _access(request: Request) -> Access | None:
    settings: Settings = request.app.state.settings
    given = presented_key(request)
    if given is None:
        return None
    if key_matches(given, settings.admin_key):
        return Access("admin", None)
    if key_matches(given, settings.search_key):
        return Access("search", None)
    keys = _keys(request)
    record = keys.find(given)
    if record is not None:
        return Access(record.role, record.collection)
    admin = settings.admin_key.get_secret_value() if settings.admin_key else None
    scoped = keys.find_scoped(given, scope_secret(admin))
    return Access("search", scoped[0].collection, scoped[1]) if scoped is not None else None


def _elsewhere(collection: str) -> HTTPException:
    # The same answer as for a collection that is not there: a key never learns which others exist.
    return HTTPException(status_code=404, detail=f"no collection {collection!r}")


def require_admin(request: Request, collection: str | None = None) -> None:
    """The global admin key, or with ``collection``, that collection's admin key too."""
    settings: Settings = request.app.state.settings
    access = access_of(request)
    is_admin = access is not None and access.role == "admin"
    if not is_admin and settings.admin_key is None and not _keys(request).admins():
        raise HTTPException(
            status_code=403, detail="the admin API is off: start the service with KHAMTOP_ADMIN_KEY set"
        )
    if not is_admin:
        raise _unauthorized("this route needs the admin key (Authorization: Bearer KEY)")
    if access.collection is not None:
        if collection is None:
            raise HTTPException(status_code=403, detail="this route needs the global admin key (KHAMTOP_ADMIN_KEY)")
        if access.collection != collection:
            raise _elsewhere(collection)


def require_some_admin(request: Request) -> None:
    """Before the route knows its collection: an admin key of some scope (``require_admin`` then
    checks it is one for the collection)."""
    access = access_of(request)
    if access is None or access.role != "admin":
        require_admin(request)  # says why: off, or a key is needed


def closed(request: Request, collection: str) -> bool:
    """Whether asking ``collection`` needs a key: a global search key is set, or it has keys. A
    collection that is not there counts as closed once any collection has keys, so that a caller
    without a key cannot tell a closed collection's name from one that does not exist."""
    if request.app.state.settings.search_key is not None:
        return True
    keys = _keys(request)
    if keys.closed(collection):
        return True
    state = getattr(request.app.state, "khamtop", None)
    return bool(keys.records or keys.damaged) and state is not None and state.served(collection) is None


def search_allowed(request: Request, collection: str) -> bool:
    """Whether the request may ask and read ``collection``: it is open, or the key is a global
    one or that collection's."""
    access = access_of(request)
    if access is not None and access.collection not in (None, collection):
        return False
    return access is not None or not closed(request, collection)


def require_search(request: Request, collection: str) -> None:
    access = access_of(request)
    if access is not None and access.collection not in (None, collection):
        raise _elsewhere(collection)
    if access is None and closed(request, collection):
        raise _unauthorized("this service needs a search key (Authorization: Bearer KEY)")


def require_some_search(request: Request) -> None:
    """Before the route knows its collection: a key that is one of this service's wherever a
    global search key is set (``require_search`` then checks the collection)."""
    if request.app.state.settings.search_key is not None and access_of(request) is None:
        raise _unauthorized("this service needs a search key (Authorization: Bearer KEY)")


def key_filter(request: Request) -> dict | None:
    """The fixed filter of a scoped key (None: the key has none)."""
    access = access_of(request)
    return access.only if access is not None else None


def scoped_collection(request: Request) -> str | None:
    """The collection the request's key is for (None: a global key, or none)."""
    access = access_of(request)
    return access.collection if access is not None else None


def viewer_secret(settings: Settings, keys: KeySet, collection: str) -> bytes | None:
    if settings.search_key is not None:
        return settings.search_key.get_secret_value().encode()
    return keys.viewer_secret if keys.closed(collection) else None


def viewer_token(
    settings: Settings, doc_id: str, collection: str = "default", keys: KeySet | None = None
) -> str | None:
    """The token that opens ``doc_id`` of ``collection`` in the viewer, and no other collection's
    document of that id; None when the collection needs no key."""
    secret = viewer_secret(settings, keys or KeySet((), None), collection)
    if secret is None:
        return None
    # The default collection's tokens are those made before collections existed.
    scope = doc_id if collection == "default" else f"{collection}\0{doc_id}"
    return hmac.new(secret, b"viewer\0" + scope.encode(), hashlib.sha256).hexdigest()[:32]


def viewer_allowed(request: Request, doc_id: str, token: str | None, collection: str) -> bool:
    """Whether the viewer may show ``doc_id`` of ``collection``: it is open, or the link's token
    is that document's, or the request's key may search the collection."""
    if not closed(request, collection):
        return True
    expected = viewer_token(request.app.state.settings, doc_id, collection, _keys(request))
    if expected is not None and token is not None and hmac.compare_digest(expected.encode(), token.encode()):
        return True
    return search_allowed(request, collection)
