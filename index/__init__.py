"""The index: encoders (``encoders/``), then the folder on disk (``layout``, ``spans``,
``doctable``, ``vectors``, ``keyword``, ``ann``; written by ``embed`` and ``write``, read by
``load``, checked by ``compat``, versioned by ``versions``), then search over a loaded version
(``batching``, ``query``, ``answer``, ``search``). docs/architecture.md has the flow."""
