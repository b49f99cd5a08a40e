"""The storage-protocol conformance suite: every store backend runs these tests (see conftest.py)."""
