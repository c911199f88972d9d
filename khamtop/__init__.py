"""The ``khamtop`` command line: the top layer, and the one place that wires corpus, index,
service and eval together (see docs/architecture.md)."""
