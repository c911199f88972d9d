"""What the product runs to measure itself: ``khamtop eval`` (``pipeline``, ``runner``,
``metrics``, ``report``, ``datasets``) and ``khamtop bench`` (``bench``, ``live``)."""
