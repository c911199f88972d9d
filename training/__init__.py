"""Training the models the project ships beyond the embedder (today: the reader), from data in
``../shared/datasets`` only, reproducibly (docs/decisions/017-reader.md)."""
