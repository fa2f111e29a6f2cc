# tunesmith: `make demo` installs everything and makes new material from the bundled models;
# `make test` installs everything and runs the whole test suite.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install system-packages demo test bench clean-venv

install: $(STAMP) system-packages

# torch is pinned to the CPU build this project targets; install it first so that nothing pulls
# another build in through a looser requirement.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[test,transcribe,ray]"
	$(BIN)/python -m pip install --quiet --no-deps basic-pitch==0.4.0
	touch $(STAMP)

# ffmpeg decodes what libsndfile cannot (mp3, m4a), FluidSynth and a General MIDI SoundFont render
# MIDI to audio (the chorales-audio corpus, the studio's players), jackd2 gives MIDI ports where no
# ALSA sequencer exists (its dummy driver: containers, CI), chromium and chromium-driver drive the
# studio's browser test. apt-get runs only when one of them is missing and it can run (as root, or
# through passwordless sudo); if it cannot, make warns and goes on: never a failure.
SYSTEM_PACKAGES := ffmpeg fluidsynth timgm6mb-soundfont jackd2 chromium chromium-driver
SOUNDFONTS := /usr/share/sounds/sf2/default-GM.sf2 /usr/share/sounds/sf2/TimGM6mb.sf2 \
	/usr/share/sounds/sf2/FluidR3_GM.sf2 /usr/share/soundfonts/*.sf2

system-packages:
	@missing=""; \
	command -v ffmpeg >/dev/null 2>&1 || missing="$$missing ffmpeg"; \
	command -v fluidsynth >/dev/null 2>&1 || missing="$$missing fluidsynth"; \
	found=""; for f in $$TUNESMITH_SOUNDFONT $(SOUNDFONTS); do [ -f "$$f" ] && found=1; done; \
	[ -n "$$found" ] || missing="$$missing timgm6mb-soundfont"; \
	command -v jackd >/dev/null 2>&1 || missing="$$missing jackd2"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium-driver"; \
	[ -n "$$missing" ] || exit 0; \
	warning="tunesmith: warning: not installed:$$missing (raw audio needs ffmpeg for mp3/m4a, fluidsynth with a SoundFont \
	renders MIDI, jackd2 gives MIDI ports without an ALSA sequencer, chromium and chromium-driver run the studio's \
	browser test); install them with: sudo apt-get install $(SYSTEM_PACKAGES)"; \
	if ! command -v apt-get >/dev/null 2>&1; then echo "$$warning" >&2; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else echo "$$warning" >&2; exit 0; fi; \
	apt="$$sudo env DEBIAN_FRONTEND=noninteractive apt-get"; \
	echo "installing$$missing with apt-get"; \
	$$apt install -y -q --no-install-recommends $$missing \
		|| { $$apt update -q && $$apt install -y -q --no-install-recommends $$missing; } \
		|| echo "$$warning" >&2

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
	@echo "== from one jig to another through the bundled MusicVAE's latent space (out/demo/interpolation/) =="
	$(BIN)/tunesmith interpolate music-vae-folk src/tunesmith/primers/jig-a.mid src/tunesmith/primers/jig-b.mid \
		--steps 5 --plot --out out/demo/interpolation/
	@echo "== a few seconds of raw audio from the bundled SampleRNN (trained on rendered chorales) =="
	$(BIN)/tunesmith sample samplernn-chorales --seconds 4 --temperature 0.95 --out out/demo/samplernn.wav
	@echo "== the chorale through a warm pad with the ambient effects, and transcribed back to MIDI (basic-pitch) =="
	$(BIN)/tunesmith render out/demo/chorale.mid --program "Pad 2 (warm)" --effects ambient --out out/demo/
	$(BIN)/tunesmith transcribe out/demo/chorale.wav --out out/demo/transcribed/
	@echo "== the bundled GANSynth: middle C, its timbre moving from one to another in 8 notes (out/demo/gansynth/) =="
	$(BIN)/tunesmith sample gansynth-notes --pitch 60 --interpolate 8 --out out/demo/gansynth/
	@echo "== the folk melody played by the GANSynth as an instrument, its timbre moving over the tune =="
	$(BIN)/tunesmith render out/demo/folk-melody.mid --instrument gansynth-notes --timbre-path 1,7 --effects room \
		--out out/demo/gansynth/
	@echo "== written to out/demo/ (MIDI files open in any DAW; PNGs are piano rolls; WAVs play anywhere) =="
	@echo "== to play with the models in your browser: $(BIN)/tunesmith studio; with a MIDI keyboard: $(BIN)/tunesmith jam melody-folk --in KEYS --out SYNTH (see $(BIN)/tunesmith ports) =="

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/text_lm.py --data lyrics --minutes 5
	$(BIN)/python benchmarks/midi_ingest.py
	$(BIN)/python benchmarks/transformer_generation.py
	$(BIN)/python benchmarks/symbolic_nll.py --minutes 4
	$(BIN)/python benchmarks/wavenet_generation.py
	$(BIN)/python benchmarks/samplernn_generation.py
	$(BIN)/python benchmarks/audio_training.py --minutes 4
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/audio_models.py --minutes 6 --clips 16
	$(BIN)/python benchmarks/melody_quality.py --corpus tunes --minutes 5,10,20
	$(BIN)/python benchmarks/music_vae.py --steps 15000
	$(BIN)/python benchmarks/render.py
	$(BIN)/python benchmarks/transcription.py
	$(BIN)/python benchmarks/pipeline.py
	$(BIN)/python benchmarks/ambient.py
	$(BIN)/python benchmarks/live_midi.py
	@if [ -n "$(NANOGPT)" ] && [ -n "$(TEXT)" ]; then \
		$(BIN)/python benchmarks/text_vs_nanogpt.py --text "$(TEXT)" --nanogpt "$(NANOGPT)" --minutes 5; \
	else echo "text_vs_nanogpt skipped: give TEXT=a-1MB-text.txt NANOGPT=a-nanoGPT-checkout"; fi

clean-venv:
	rm -rf $(VENV)
