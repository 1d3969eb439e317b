"""Helpers the tests import; the conftest files hold only fixtures (pytest finds those)."""
