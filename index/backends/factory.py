"""The one place that names the backends: the service, the command line, eval and the bench ask
it for the backend their settings choose. A new backend is a package of ``index.backends`` and
one entry here."""

from __future__ import annotations

from index.backends.base import Backend, BackendOptions


def _embedded(options: BackendOptions) -> Backend:
    from index.backends.embedded import EmbeddedBackend

    return EmbeddedBackend()


def _qdrant_edge(options: BackendOptions) -> Backend:
    from index.backends.qdrant.edge import EdgeLayout
    from index.backends.qdrant.edge_backend import EdgeBackend

    return EdgeBackend(EdgeLayout(shards=options.shards, idf=options.idf, exact_up_to=options.exact_up_to))


def _qdrant(options: BackendOptions) -> Backend:
    from index.backends.qdrant.server import ServerTarget
    from index.backends.qdrant.server_backend import ServerBackend

    target = ServerTarget(
        options.url, options.api_key, options.alias, options.idf, options.exact_up_to, options.rewrite_after
    )
    return ServerBackend(target, options.replica)


_MAKERS = {"embedded": _embedded, "qdrant-edge": _qdrant_edge, "qdrant": _qdrant}
BACKENDS = tuple(_MAKERS)  # what KHAMTOP_BACKEND may name


def open_backend(options: BackendOptions) -> Backend:
    """The backend ``options.name`` names; ValueError for one there is none of."""
    maker = _MAKERS.get(options.name)
    if maker is None:
        raise ValueError(f"unknown backend {options.name!r}; use one of {', '.join(BACKENDS)}")
    return maker(options)
