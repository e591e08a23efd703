"""Test-only helpers of the perception server that the server process imports (``PYTHONPATH=test/python``):
:mod:`perception_testing.echo`, the diagnostics backends.
"""
