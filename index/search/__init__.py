"""From a question to ranked passages and the answer, whatever the backend."""
