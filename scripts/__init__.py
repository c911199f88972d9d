"""The checkout's scripts (not installed): importable so that tests can reach import_seeds.py."""
