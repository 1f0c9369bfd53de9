"""The edges of Memo: the HTTP app, the command line, the worker, and the composition root they share."""

import os

# numpy reads it once, when first imported, and every entrypoint imports it through the vector index: one BLAS
# thread, since one query vector against an owner's matrix gains nothing from threads, while on a 2-core machine
# they cost the p99 its spikes (docs/benchmarks.md, vector index). An operator's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
