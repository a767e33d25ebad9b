"""xdsl's own fuzzing harness (issue 11).

* :mod:`fuzz.mutate`: the seeds (every shipped spec, found through ``xdsl.api.shipped_specs``,
  so a new zoo spec is fuzzed without touching this code) and deterministic, seedable mutators.
* :mod:`fuzz.bombs`: generated resource bombs (nesting, long expressions, many layers).
* :mod:`fuzz.oracle`: runs one spec through parse, check, audit, draw (DOT, no rendering),
  fmt and the torch-free part of compile, and returns what went wrong.
* :mod:`fuzz.shrink`: delta debugging that keeps a failure's class while shrinking its text.

``tests/test_fuzz.py`` runs a fixed, CI-sized budget; ``tools/fuzz.py`` runs for longer and
writes minimised reproducers.
"""
