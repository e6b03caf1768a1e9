"""Sample provincial feeds for the demo, the tests and the benchmarks (``samples.feeds``; ``python -m samples``)."""
