"""The fault suite: real controllers, files and processes under kill -9, torn writes,
hostile probes and concurrent writers. ``python -m faults`` (``nox -s faults``) runs
every experiment at full size and writes docs/reliability.md; tests/test_faults.py
runs each one small in the default test run."""
