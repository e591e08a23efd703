"""One module per benchmark; each exports ``BENCHMARKS`` (a tuple of :class:`spatial_eval.types.Benchmark`)."""
