"""Where a version's search part lives: the seam (``base``), the one factory, one package each."""
