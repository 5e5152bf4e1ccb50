"""Browser tests: Chromium against a real ``server.py`` process (run without pytest-tornado)."""
