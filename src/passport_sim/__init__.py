"""Passport OpsMan API simulator: a stand-in for tests and demos. Imports nothing from permitsync."""
