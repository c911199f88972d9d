"""The reader: a cross-encoder that sees the question and a passage together and points at the
answer's first and last token, or at "no answer" (docs/decisions/017-reader.md)."""
