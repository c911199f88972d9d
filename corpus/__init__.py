"""Text and documents, the bottom layer: ``Document``, the one normaliser (``text``), reading
files (``formats``) and folders (``reader``). Imports nothing else of the project."""
