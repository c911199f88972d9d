"""The HTTP service: every setting (``settings``), the app (``app.create_app``), its routes, and
the one function from a question to a response (``answering``)."""
