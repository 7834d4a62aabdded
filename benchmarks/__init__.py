"""Gas City's scaling benchmarks. Run them all with ``nox -s bench`` or
``python -m benchmarks``; each module also runs alone: ``python -m benchmarks.<name>``.

Every module exposes ``run(quick: bool) -> list[BenchTable]``.
"""
