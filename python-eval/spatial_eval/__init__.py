"""spatial_eval: SpatialClaw's benchmark loaders and scorers (docs/benchmarks-eval.md).

* :mod:`spatial_eval.types`: Sample, Benchmark, Scoring, Aggregate;
* :mod:`spatial_eval.registry`: every benchmark by name, the paper's 20, the paper's published numbers;
* :mod:`spatial_eval.benchmarks`: one module per benchmark (loader, official and paper scorings);
* :mod:`spatial_eval.results`: scoring predictions, results.json with bootstrap intervals;
* :mod:`spatial_eval.cli`: ``python -m spatial_eval list|check|load|score|score-run|serve-scorer``.
"""
