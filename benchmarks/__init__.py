"""One-off measurements behind the decision records (not installed): run from the checkout as
``python -m benchmarks.NAME``; README.md lists them."""
