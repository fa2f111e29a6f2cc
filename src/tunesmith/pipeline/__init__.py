"""Pipelines, a client of the library API like the CLI: a TOML spec names an input folder and a chain of stages (decode, transcribe, train,
generate, render); `run` does only the work whose inputs, settings or code changed, keeping every
output in a content-addressed store with where it came from; per-file stages run on a local
process pool or on Ray. See spec.py (the file), stages.py (the work), store.py (the store) and
runner.py (planning, executors, status, provenance, watch)."""
