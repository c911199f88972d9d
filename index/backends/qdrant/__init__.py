"""The two Qdrant backends (qdrant-edge in process, a Qdrant server) and how a passage is a point."""
