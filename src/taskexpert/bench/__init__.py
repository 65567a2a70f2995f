"""Speed benchmarks: this project's training and evaluation against what users would run instead.

`python -m taskexpert.bench` (or `make bench`) runs every arm in its own subprocess on the same machine, model,
data and settings, and writes its sections of BENCHMARKS.md. Nothing here is used by training itself.
"""
