"""Helpers shared by the test tiers, the demo (examples/demo.py) and the benchmarks (bench/):
the test bed, the app under test, salt-call, redeploys in a child process, private Engines and
hostile registries. Imported as ``tests.support.<module>`` with the repository root on the path
(pytest: ``pythonpath`` in pyproject.toml; scripts: ``PYTHONPATH``)."""
