"""Passport OpsMan API simulator, a stand-in for tests and demos.

It imports nothing from permitsync. Start with :func:`passport_sim.app.create_app`,
:class:`passport_sim.testing.SimServer` or the ``passport-sim`` command.
"""
