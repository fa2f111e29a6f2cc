# tunesmith: `make demo` installs everything and makes new material from the bundled models;
# `make test` installs everything and runs the whole test suite.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test bench clean-venv

install: $(STAMP)

# torch is pinned to the CPU build this project targets; install it first so that nothing pulls
# another build in through a looser requirement.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: install
	@mkdir -p out/demo
	@echo "== new lyrics from the bundled char-rnn (out/demo/) =="
	$(BIN)/tunesmith sample char-rnn-lyrics --primer "Sing unto the night" --length 700 \
		--temperature 0.7 --seed $$(date +%s) | tee out/demo/lyrics-$$(date +%Y%m%d-%H%M%S).txt
	@echo "== a folk melody from the bundled melody-rnn, continuing a bundled primer =="
	$(BIN)/tunesmith sample melody-folk --primer src/tunesmith/primers/folk.mid --length 128 \
		--program 73 --temperature 0.9 --plot --out out/demo/folk-melody.mid
	@echo "== a chorale continuation from the bundled Music Transformer =="
	$(BIN)/tunesmith sample transformer-chorales --primer src/tunesmith/primers/chorale.mid --seconds 20 \
		--program 19 --temperature 0.9 --plot --out out/demo/chorale.mid
	@echo "== written to out/demo/ (MIDI files open in any DAW; PNGs are piano rolls) =="

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/text_lm.py --data lyrics --minutes 5
	$(BIN)/python benchmarks/midi_ingest.py
	$(BIN)/python benchmarks/transformer_generation.py
	$(BIN)/python benchmarks/symbolic_nll.py --minutes 4

clean-venv:
	rm -rf $(VENV)
