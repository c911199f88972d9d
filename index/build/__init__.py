"""From documents to a version: chunking, embedding, assembling, writing through the backend."""
