"""The `tunesmith` command: parse, call the library, print. No logic of its own."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from tunesmith import __version__
from tunesmith.errors import UserError

EPILOG_TRAIN = """examples:
  tunesmith train char-rnn                                  # the bundled lyrics corpus
  tunesmith train char-rnn --data my-lyrics/ --minutes 10
  tunesmith train char-rnn --data songs.txt --set hidden_size=256 --set cell=gru
  tunesmith train char-rnn --run runs/my-run --resume      # continue where it stopped
  torchrun --nproc_per_node 2 -m tunesmith -- train char-rnn   # 2 processes (DDP)"""

EPILOG_SAMPLE = """examples:
  tunesmith sample runs/char-rnn-20261121-101500 --primer "The night is" --length 400
  tunesmith sample char-rnn-lyrics --temperature 0.7 --num-outputs 3 --out lyrics.txt
  tunesmith sample RUN --sample-on-spaces --seed 7
  tunesmith sample melody-folk --primer tune.mid --primer-steps 32 --length 128 --program 73 --out new.mid
  tunesmith sample transformer-chorales --seconds 30 --num-outputs 4 --beam 2 --plot --out out/
  tunesmith sample runs/samplernn-20261121-101500 --seconds 240 --num-outputs 100 --format flac --out songs/
  tunesmith sample runs/wavenet-20261121-101500 --primer take.wav --primer-seconds 4 --seconds 30 --out more.mp3
  tunesmith sample runs/wavenet-20261121-101500 --style piano --temperature 0.9 --checkpoint 20000

audio is written as it is generated (any length fits in memory); the K outputs advance together,
so 100 clips take about as long as a few."""


class Parser(argparse.ArgumentParser):
    """argparse with the house error style: one line, exit 2."""

    def error(self, message: str):
        self.exit(2, f"tunesmith: error: {message} (see {self.prog} --help)\n")


def recipe_help(name: str) -> str:
    from tunesmith.recipes import get_recipe

    recipe = get_recipe(name)
    lines = [f"{recipe.name}: {recipe.summary}", f"default data: {recipe.default_data}; "
             f"default budget: --steps {recipe.default_steps}", "", "settings (--set key=value), with defaults:"]
    for key, param in recipe.all_params().items():
        choices = f" [{'|'.join(param.choices)}]" if param.choices else ""
        lines.append(f"  {key:<18} {str(param.default):<10} {param.help}{choices}")
    lines += ["", f"example: {recipe.example}"]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    from tunesmith.media.transcribe import TranscribeSettings

    parser = Parser(prog="tunesmith", description="Train generative models on your own lyrics, MIDI and "
                    "recordings, and sample from them.", formatter_class=argparse.RawDescriptionHelpFormatter,
                    epilog="example:\n  tunesmith train char-rnn --minutes 5 && tunesmith sample runs/char-rnn-*")
    parser.add_argument("--version", action="version", version=f"tunesmith {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=Parser)

    train = verbs.add_parser("train", help="train a recipe into a run directory", epilog=EPILOG_TRAIN,
                             formatter_class=argparse.RawDescriptionHelpFormatter, add_help=False)
    train.add_argument("recipe", nargs="?", metavar="RECIPE", help="the recipe to train (listed below)")
    train.add_argument("-h", "--help", action="store_true", help="show this help (with a RECIPE: its settings)")
    train.add_argument("--data", help="a file, a folder, or a bundled corpus name (default: the recipe's)")
    train.add_argument("--run", type=Path, help="run directory (default: runs/RECIPE-DATE-TIME)")
    budget = train.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, help="train until this many steps in all")
    budget.add_argument("--minutes", type=float, help="train for this many minutes")
    budget.add_argument("--epochs", type=float, help="train for this many passes over the data")
    train.add_argument("--resume", action="store_true", help="continue the run in --run (default: the newest)")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="change a setting")
    train.add_argument("--seed", type=int, help="random seed (default 1)")

    sample = verbs.add_parser("sample", help="generate from a run", epilog=EPILOG_SAMPLE,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sample.add_argument("run", metavar="RUN", help="a run directory, or a bundled model name")
    sample.add_argument("--length", type=int, help="how much to generate: characters for text, 16th-note steps "
                        "for melody/drums/polyphony, tokens for performance/transformer, samples for audio "
                        "(default 500 tokens, 128 steps, or 5 seconds of audio)")
    sample.add_argument("--seconds", type=float, help="MIDI and audio: generate this many seconds instead")
    sample.add_argument("--num-outputs", type=int, default=1, metavar="K", help="outputs, generated together")
    sample.add_argument("--temperature", type=float, default=1.0, help="below 1: safer; above 1: wilder")
    sample.add_argument("--top-k", type=int, default=0, help="sample among the K likeliest tokens (0: all)")
    sample.add_argument("--top-p", type=float, default=1.0, help="sample among the likeliest tokens "
                        "holding this much probability (1: all)")
    mode = sample.add_mutually_exclusive_group()
    mode.add_argument("--argmax", action="store_true", help="always take the likeliest token")
    mode.add_argument("--sample-on-spaces", action="store_true",
                      help="greedy inside words, sampled at word boundaries (char-rnn's third mode)")
    sample.add_argument("--beam", type=int, default=0, metavar="N",
                        help="beam search keeping the N likeliest continuations (0: off)")
    sample.add_argument("--primer", help="text the output begins with; MIDI: a .mid file to continue; "
                        "audio: a recording to continue (.wav, .flac, .mp3, ...)")
    sample.add_argument("--primer-steps", type=int, help="MIDI: use only the first N 16th-note steps of the primer")
    sample.add_argument("--primer-seconds", type=float, help="MIDI and audio: use only the first S seconds of "
                        "the primer")
    sample.add_argument("--no-primer-in-output", action="store_true", help="leave the primer out of the result")
    sample.add_argument("--style", help="MIDI and audio: the style to ask for (a corpus sub-folder name; audio: "
                        "a WaveNet trained with styles, default its first)")
    sample.add_argument("--program", help="music: the General MIDI program of the output, by number (0-127) or "
                        "name (\"Pad 2 (warm)\"; see tunesmith render --list-programs)")
    sample.add_argument("--render", action="store_true", help="MIDI: also render each output to a WAV file beside "
                        "it, through a General MIDI SoundFont (see tunesmith render)")
    sample.add_argument("--effects", choices=["none", "room", "ambient"], default="none",
                        help="with --render: the effects preset (default none)")
    sample.add_argument("--bpm", type=float, help="music: tempo of the output (default: the primer's, or 120)")
    sample.add_argument("--plot", action="store_true", help="music: write a piano-roll PNG beside each MIDI file")
    live_port = sample.add_mutually_exclusive_group()
    live_port.add_argument("--play", metavar="PORT", help="MIDI: also play the output on this MIDI output port as it "
                           "is made (see tunesmith ports)")
    live_port.add_argument("--play-virtual", metavar="NAME", help="MIDI: the same on a virtual output port NAME, "
                           "from when you press Enter (connect a synth or DAW to it first)")
    sample.add_argument("--seed", type=int, help="makes the output repeatable")
    sample.add_argument("--checkpoint", default="best", help="best (default), last, or a step number")
    sample.add_argument("--format", choices=["wav", "flac", "mp3", "ogg"],
                        help="audio: the file format (default: --out's suffix, else wav)")
    sample.add_argument("--bars", type=int, help="MusicVAE: bars of each output (phrases from the prior, chained)")
    sample.add_argument("--similar-to", metavar="MIDI", help="MusicVAE: variations around this file's first phrase")
    sample.add_argument("--similarity", type=float, default=0.8,
                        help="MusicVAE, with --similar-to: 0 (anything) to 1 (the file itself); default 0.8")
    sample.add_argument("--pitch", type=int, metavar="P", help="GANSynth: the MIDI pitch of the notes (default: "
                        "the middle of the model's range)")
    sample.add_argument("--interpolate", type=int, default=0, metavar="K", help="GANSynth: K notes moving from "
                        "one timbre to another (slerp between two latent vectors)")
    sample.add_argument("--out", metavar="PATH", help="a file (K outputs: name-1.ext, name-2.ext, ... beside "
                        "it) or a folder, made if missing, to write sample.ext or sample-1.ext, ... into: a "
                        "PATH ending in /, an existing folder, or with K outputs a PATH without a suffix. "
                        "Never overwrites (name-2.ext instead). Default: text to stdout, others to .")

    interpolate = verbs.add_parser(
        "interpolate", help="MusicVAE: from one MIDI phrase to another through the latent space",
        epilog="examples:\n  tunesmith interpolate music-vae-folk a.mid b.mid --steps 7 --out blend/ --plot\n"
               "  tunesmith interpolate RUN song.mid other.mid --start-bar 9 1",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    interpolate.add_argument("run", metavar="RUN", help="a MusicVAE run directory, or a bundled model name")
    interpolate.add_argument("first", metavar="A.mid")
    interpolate.add_argument("last", metavar="B.mid")
    interpolate.add_argument("--steps", type=int, default=5, help="phrases from A to B, both ends included (default 5)")
    interpolate.add_argument("--start-bar", type=int, nargs="+", metavar="K", help="the bar (from 1) where A's phrase "
                             "begins, and B's if a second is given (default: the first bars that hold notes)")
    interpolate.add_argument("--out", metavar="DIR", help="the folder for interpolation-1.mid ... and "
                             "interpolation-all.mid (default: the current folder)")
    interpolate.add_argument("--plot", action="store_true", help="a piano-roll PNG beside each MIDI file")
    interpolate.add_argument("--checkpoint", default="best", help="best (default), last, or a step number")

    # an NSynth run (recipe nsynth): sounds to codes, codes to sounds, two sounds blended
    encode = verbs.add_parser(
        "encode", help="NSynth: a sound to its code (a .npy of 16 numbers every 32 ms)",
        epilog="examples:\n  tunesmith encode RUN flute.wav --out flute.npy\n"
               "  tunesmith encode RUN notes/*.wav --out codes/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    encode.add_argument("run", metavar="RUN", help="an NSynth run directory")
    encode.add_argument("sounds", nargs="+", metavar="SOUND", help="audio files (mixed down and resampled to the run's rate)")
    encode.add_argument("--out", metavar="PATH", help="a .npy file, or a folder for code.npy (code-1.npy ... for "
                        "several); never overwrites (default: the current folder)")
    encode.add_argument("--checkpoint", default="best", help="best (default), last, or a step number")
    synthesize = verbs.add_parser(
        "synthesize", help="NSynth: codes to sounds with the WaveNet decoder (all in one batch)",
        epilog="examples:\n  tunesmith synthesize RUN flute.npy --out flute-again.wav\n"
               "  tunesmith synthesize RUN codes/*.npy --out remade/ --seed 3",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    synthesize.add_argument("run", metavar="RUN", help="an NSynth run directory")
    synthesize.add_argument("codes", nargs="+", metavar="CODE.npy", help="codes written by tunesmith encode")
    synthesize.add_argument("--out", metavar="PATH", help="a .wav (or .flac ...) file, or a folder for synth.wav "
                            "(synth-1.wav ... for several); never overwrites (default: the current folder)")
    synthesize.add_argument("--seed", type=int, help="makes the output repeatable")
    synthesize.add_argument("--checkpoint", default="best", help="best (default), last, or a step number")
    mix = verbs.add_parser(
        "mix", help="NSynth: two sounds blended through their codes (encode both, average, synthesize)",
        epilog="examples:\n  tunesmith mix RUN flute.wav bass.wav --out blend.wav\n"
               "  tunesmith mix RUN a.wav b.wav --weight 0.25 0.5 0.75 --out blends/   # three, in one batch",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    mix.add_argument("run", metavar="RUN", help="an NSynth run directory")
    mix.add_argument("first", metavar="A.wav")
    mix.add_argument("second", metavar="B.wav")
    mix.add_argument("--weight", type=float, nargs="+", default=[0.5], metavar="W", help="B's share of the code, "
                     "0 (A) to 1 (B); several weights make several mixes (default 0.5)")
    mix.add_argument("--out", metavar="PATH", help="a .wav (or .flac ...) file, or a folder for mix.wav (mix-1.wav "
                     "... for several); never overwrites (default: the current folder)")
    mix.add_argument("--seed", type=int, help="makes the output repeatable")
    mix.add_argument("--checkpoint", default="best", help="best (default), last, or a step number")

    render = verbs.add_parser(
        "render", help="MIDI files to audio through a SoundFont, with an instrument and effects of your choice",
        epilog="examples:\n  tunesmith render song.mid --program \"Pad 2 (warm)\" --effects ambient --out audio/\n"
               "  tunesmith render songs/*.mid --soundfont MyFont.sf2 --format flac --sample-rate 48000\n"
               "  tunesmith render melody.mid --instrument cat.wav --effects room\n"
               "  tunesmith render melody.mid --instrument runs/gansynth-20261201-101500 --timbre-path 1,7\n"
               "  tunesmith render --list-programs",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    render.add_argument("files", nargs="*", metavar="FILE.mid")
    render.add_argument("--soundfont", metavar="SF2", help="a .sf2 or .sf3 SoundFont (default: a General MIDI one "
                        "on the system, or $TUNESMITH_SOUNDFONT)")
    render.add_argument("--program", metavar="N|NAME", help="play every non-drum track with this General MIDI "
                        "program, by number (0-127) or name")
    render.add_argument("--effects", choices=["none", "room", "ambient"], default="none",
                        help="none; room (FluidSynth's reverb); ambient (FluidSynth's reverb and chorus, then a "
                        "chorus, a delay and a long reverb; an 8-second tail)")
    render.add_argument("--out", metavar="DIR", help="the folder for NAME.wav ... (default: the current folder)")
    render.add_argument("--format", choices=["wav", "flac", "mp3", "ogg"], default="wav")
    render.add_argument("--sample-rate", type=int, default=44100, metavar="R", help="Hz (default 44100)")
    render.add_argument("--instrument", metavar="SOUND", help="play every note with this one-shot sound (a "
                        ".wav, a cat), repitched per note, or with a GANSynth run, instead of a SoundFont")
    render.add_argument("--timbre-seed", type=int, default=0, metavar="S", help="--instrument RUN (a GANSynth): "
                        "the timbre, the latent vector of this seed (default 0)")
    render.add_argument("--timbre-path", metavar="A,B", help="--instrument RUN: a timbre moving over the song from "
                        "seed A's to seed B's")
    render.add_argument("--root", type=float, metavar="PITCH", help="--instrument: the MIDI pitch of the sound "
                        "(default: found with pyin; middle C if it has none)")
    render.add_argument("--list-programs", action="store_true", help="print the General MIDI programs and stop")

    transcribe = verbs.add_parser(
        "transcribe", help="recordings to MIDI files with basic-pitch (audio to notes)",
        epilog="examples:\n  tunesmith transcribe take.mp3 --out midi/\n"
               "  tunesmith transcribe recordings/ --out midi/ --onset-threshold 0.6 --min-pitch 36   # more notes\n\n"
               "notes are written at 120 quarter notes a minute (the seconds of the recording, unquantized);\n"
               "the defaults were measured on piano and pad renderings of known MIDI (benchmarks/transcription.py)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    transcribe.add_argument("inputs", nargs="+", metavar="AUDIO_OR_DIR")
    transcribe.add_argument("--out", metavar="DIR", help="the folder for NAME.mid ... (default: the current folder)")
    defaults = TranscribeSettings()
    transcribe.add_argument("--onset-threshold", type=float, default=defaults.onset_threshold, metavar="X",
                            help=f"onset activation that starts a note, 0-1 (default {defaults.onset_threshold}; "
                            "higher: fewer notes)")
    transcribe.add_argument("--frame-threshold", type=float, default=defaults.frame_threshold, metavar="Y",
                            help=f"frame activation that keeps a note sounding, 0-1 (default {defaults.frame_threshold})")
    transcribe.add_argument("--min-note-ms", type=float, default=defaults.min_note_ms, metavar="M",
                            help=f"shorter notes are dropped (default {defaults.min_note_ms:g})")
    transcribe.add_argument("--min-pitch", type=int, default=defaults.min_pitch, metavar="P",
                            help=f"lowest MIDI pitch kept (default {defaults.min_pitch})")
    transcribe.add_argument("--max-pitch", type=int, default=defaults.max_pitch, metavar="Q",
                            help=f"highest MIDI pitch kept (default {defaults.max_pitch})")

    pipeline = verbs.add_parser(
        "pipeline", help="run a pipeline spec (recordings -> MIDI -> model -> songs -> audio), only what changed",
        epilog="examples:\n  tunesmith pipeline run examples/ambient.toml\n"
               "  tunesmith pipeline run ambient.toml --input my-mp3s/ --store ambient-store/ --executor ray\n"
               "  tunesmith pipeline status ambient.toml\n"
               "  tunesmith pipeline status ambient.toml --why ambient-store/out/render/song-1.wav\n"
               "  tunesmith pipeline watch ambient.toml --interval 10\n\n"
               "each stage prints one line: STAGE: N new, M cached, F failed",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    pipeline.add_argument("action", choices=["run", "status", "watch"], metavar="run|status|watch")
    pipeline.add_argument("spec", type=Path, metavar="SPEC", help="the pipeline's .toml file")
    pipeline.add_argument("--input", metavar="DIR", help="the input folder (default: the spec's input)")
    pipeline.add_argument("--store", metavar="DIR", help="the store folder (default: the spec's store)")
    pipeline.add_argument("--executor", choices=["local", "ray"], default="local",
                          help="per-file stages on a local process pool (default) or as Ray tasks")
    pipeline.add_argument("--address", metavar="ADDR", help="ray: an existing cluster (default: start a local Ray)")
    pipeline.add_argument("--workers", type=int, metavar="N", help="local: worker processes (default: the cores)")
    pipeline.add_argument("--why", metavar="OUTPUT", help="status: which inputs OUTPUT (STAGE/NAME or a file "
                          "under the store's out/) came from")
    pipeline.add_argument("--interval", type=float, default=5.0, metavar="S",
                          help="watch: seconds between looks at the input folder (default 5)")
    pipeline.add_argument("--json", action="store_true", help="print JSON")

    evaluate = verbs.add_parser("eval", help="loss of a run on its validation (and, for audio, test) split or on --data",
                                epilog="examples:\n  tunesmith eval runs/char-rnn-20261121-101500\n"
                                "  tunesmith eval char-rnn-lyrics --data other-lyrics.txt --json",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    evaluate.add_argument("run", metavar="RUN", help="a run directory, or a bundled model name")
    evaluate.add_argument("--data", help="evaluate on this file or folder instead of the validation split")
    evaluate.add_argument("--checkpoint", default="best", help="best (default), last, or a step number")
    evaluate.add_argument("--samples", type=int, default=8,
                          help="music/audio: pieces or clips generated for the statistics (0: skip them)")
    evaluate.add_argument("--seconds", type=float, default=4.0, help="audio: length of each generated clip")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the generated pieces")
    evaluate.add_argument("--json", action="store_true", help="print JSON only")

    listing = verbs.add_parser("runs", help="list runs with recipe, steps, best validation loss and date, "
                               "and the bundled models", epilog="examples:\n  tunesmith runs\n"
                               "  tunesmith runs experiments/ --json",
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    listing.add_argument("dir", nargs="?", type=Path, metavar="DIR",
                         help="a folder of runs, listed alone (default: runs/, then the bundled models)")
    listing.add_argument("--json", action="store_true", help="print JSON lines (bundled models: \"bundled\": true)")

    corpus = verbs.add_parser("corpus", help="list the bundled corpora, or export one as files",
                              epilog="examples:\n  tunesmith corpus list\n"
                                     "  tunesmith corpus export chorales my-chorales/",
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    corpus_verbs = corpus.add_subparsers(dest="corpus_verb", metavar="list|export", parser_class=Parser)
    corpus_list = corpus_verbs.add_parser("list", help="the bundled corpora with their sizes")
    corpus_list.add_argument("--json", action="store_true", help="print JSON lines")
    corpus_export = corpus_verbs.add_parser("export", help="write a bundled corpus into a folder")
    corpus_export.add_argument("name", metavar="NAME")
    corpus_export.add_argument("folder", type=Path, metavar="DIR")

    # -- the studio (studio/): the `studio` verb's parser --
    studio = verbs.add_parser("studio", help="a web page to generate, play and render with your models",
                              epilog="examples:\n  tunesmith studio\n  tunesmith studio --runs my-runs/ --port 9000 "
                                     "--no-browser",
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    studio.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1: this "
                        "machine only; the studio has no login)")
    studio.add_argument("--port", type=int, default=8765)
    studio.add_argument("--runs", type=Path, default=Path("runs"), metavar="DIR",
                        help="the runs to offer beside the bundled models (default runs/)")
    studio.add_argument("--folder", type=Path, default=Path("studio"), metavar="DIR",
                        help="where uploads and results are kept (default studio/)")
    studio.add_argument("--no-browser", action="store_true", help="do not open the page in a browser")
    # -- end of the studio's parser --

    # -- live MIDI (live.py): the `play`, `ports` and `jam` verbs' parsers --
    backend_note = ("ports: python-rtmidi on ALSA where /dev/snd/seq exists, else on JACK (a server must run, e.g. "
                    "`jackd -d dummy &`); TUNESMITH_MIDI_API=alsa|jack chooses. A port is named whole or by a "
                    "unique part of its name (case aside).")
    verbs.add_parser("ports", help="list the MIDI input and output ports", epilog=backend_note,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    play = verbs.add_parser(
        "play", help="send a MIDI file to a MIDI output port, on time",
        epilog="examples:\n  tunesmith play song.mid --port fluid\n"
               "  tunesmith play song.mid --virtual tunesmith-out   # connect a synth to it, then press Enter\n\n"
               + backend_note, formatter_class=argparse.RawDescriptionHelpFormatter)
    play.add_argument("file", metavar="FILE.mid")
    to = play.add_mutually_exclusive_group(required=True)
    to.add_argument("--port", metavar="NAME", help="the output port (see tunesmith ports)")
    to.add_argument("--virtual", metavar="NAME", help="open a virtual output port NAME for a synth or DAW to connect "
                    "to; playing starts on Enter")
    jam = verbs.add_parser(
        "jam", help="call and response: answer what you play on a MIDI keyboard with a continuation by a run",
        epilog="examples:\n  tunesmith jam melody-folk --in keystation --out fluid\n"
               "  tunesmith jam RUN --in keys --out synth --bpm 96 --bars 4 --metronome --clock\n"
               "  tunesmith jam melody-folk --in keys --out synth --cc 64   # answer when the sustain pedal is pressed\n\n"
               "The beat starts with the metronome (or clock), else with your first note; the answer starts on the "
               "next beat.\n" + backend_note, formatter_class=argparse.RawDescriptionHelpFormatter)
    jam.add_argument("run", metavar="RUN", help="a run that continues MIDI (an autoregressive MIDI recipe), or a "
                     "bundled model name")
    heard_on = jam.add_mutually_exclusive_group(required=True)
    heard_on.add_argument("--in", dest="port_in", metavar="PORT", help="the input port you play into")
    heard_on.add_argument("--virtual-in", metavar="NAME", help="open a virtual input port NAME to play into (from a "
                          "DAW's track or another program)")
    answered_on = jam.add_mutually_exclusive_group(required=True)
    answered_on.add_argument("--out", dest="port_out", metavar="PORT", help="the output port answers go to")
    answered_on.add_argument("--virtual-out", metavar="NAME", help="open a virtual output port NAME for the answers "
                             "(a DAW records or plays from it)")
    jam.add_argument("--bpm", type=float, default=120.0, help="tempo in quarter notes a minute (default 120)")
    jam.add_argument("--bars", type=int, default=2, help="bars in each answer (default 2)")
    jam.add_argument("--metre", default="4/4", metavar="N/D", help="the metre of the bars: 4/4 (default), 3/4, 6/8 "
                     "...; the metronome clicks dotted quarters in 6/8, 9/8 and 12/8")
    jam.add_argument("--pause", type=float, metavar="SECONDS", help="answer after this much silence (default: half "
                     "a bar; with --cc, only if given)")
    jam.add_argument("--cc", type=int, metavar="N", help="answer when control change N comes (e.g. 64, the sustain "
                     "pedal)")
    jam.add_argument("--metronome", action="store_true", help="click the beat on channel 10 of the output")
    jam.add_argument("--clock", action="store_true", help="send MIDI clock (24 a beat, start and stop) on the output")
    jam.add_argument("--follow-clock", action="store_true", help="take the tempo and the beat from MIDI clock "
                     "arriving on the input (a DAW's or drum machine's), once it comes")
    jam.add_argument("--answers", type=int, metavar="N", help="stop after N answers (default: Ctrl+C)")
    jam.add_argument("--temperature", type=float, default=1.0, help="below 1: safer; above 1: wilder")
    jam.add_argument("--seed", type=int, help="makes the answers repeatable")
    jam.add_argument("--checkpoint", default="best", help="best (default), last, or a step number")
    # -- end of the live MIDI parsers --

    board = verbs.add_parser("board", help="open TensorBoard on a run or a folder of runs",
                             epilog="example:\n  tunesmith board runs/",
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    board.add_argument("run", metavar="RUN", nargs="?", default="runs")
    board.add_argument("--port", type=int, default=6006)
    return parser


def cmd_train(args) -> int:
    from tunesmith import api

    if args.help or not args.recipe:
        if args.recipe:
            print(recipe_help(args.recipe))
        else:
            from tunesmith.recipes import RECIPES

            print(build_parser()._subparsers._group_actions[0].choices["train"].format_help())
            print("recipes (tunesmith train RECIPE --help: its settings):")
            for recipe in RECIPES.values():
                print(f"  {recipe.name:<18} {recipe.summary}")
        return 0 if args.help else 2
    for name, value in (("--steps", args.steps), ("--minutes", args.minutes), ("--epochs", args.epochs)):
        if value is not None and value <= 0:
            raise UserError(f"{name} must be above 0")
    result = api.train(args.recipe, args.data, args.run, args.steps, args.minutes, args.epochs, args.set, args.seed,
                       args.resume)
    if int(os.environ.get("RANK", "0")) == 0:
        metric = result.get("best_metric", "loss")
        best = "" if result["best_val"] is None else (
            f", best validation loss {result['best_val']:.4f} {result.get('loss_unit', 'nats')}".rstrip() if metric == "loss"
            else f", best validation {metric.replace('_', ' ')} {result['best_val']:.4f}")
        print(f"{result['outcome']} at step {result['step']}{best}; run: {result['run']}")
        from tunesmith.recipes import RECIPES

        hint = getattr(RECIPES[result["recipe"]].generator, "next_step", "sample it: tunesmith sample {run}")
        print(hint.format(run=result["run"]))
    return 0


def cmd_sample(args) -> int:
    from tunesmith import api
    from tunesmith.generation.lengths import Length
    from tunesmith.generation.request import SampleRequest
    from tunesmith.generation.strategies import Strategy
    from tunesmith.media.domains import SampleOptions

    from tunesmith.media.render import program_number

    program = None if args.program is None else program_number(args.program)
    if args.bpm is not None and args.bpm <= 0:
        raise UserError("--bpm must be above 0")
    options = SampleOptions(args.primer, args.primer_steps, args.primer_seconds, not args.no_primer_in_output,
                            args.style, program, args.bpm, args.plot, args.format)
    request = SampleRequest(options, Length(args.length, args.seconds), args.num_outputs,
                            Strategy(args.temperature, args.top_k, args.top_p, args.argmax), args.beam, args.seed,
                            args.out, args.sample_on_spaces, args.bars, args.similar_to, args.similarity, args.pitch,
                            args.interpolate)

    def echo(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    if args.render and api.open_model(args.run, args.checkpoint).recipe.domain.suffix != ".mid":
        raise UserError("--render is for MIDI runs: it renders the MIDI files a run makes")
    if args.play or args.play_virtual:
        from tunesmith import live

        result = live.play_samples(args.run, request, args.play, args.play_virtual, args.checkpoint)
    else:
        result = api.generate(args.run, request, args.checkpoint, echo=echo)
    if args.render:
        midi = [path for path in result.paths if path.suffix == ".mid"]
        api.render(midi, midi[0].parent if midi else None, effects=args.effects)
    if result.streamed:
        sys.stdout.write("\n")
    elif not result.paths:  # text with no --out
        for i, item in enumerate(result.items, 1):
            sys.stdout.write(f"--- sample {i} ---\n{item}\n" if len(result.items) > 1 else f"{item}\n")
    return 0


def cmd_interpolate(args) -> int:
    from tunesmith import api

    starts = (args.start_bar or []) + [None, None]
    if len(args.start_bar or []) > 2 or any(k is not None and k < 1 for k in starts):
        raise UserError("--start-bar takes one or two bar numbers from 1 (A's, then B's)")
    first_start, last_start = starts[0], starts[1] if args.start_bar and len(args.start_bar) > 1 else starts[0]
    api.interpolate(args.run, args.first, args.last, args.steps, args.out, (first_start, last_start), args.plot,
                    args.checkpoint)
    return 0


def cmd_encode(args) -> int:
    from tunesmith import api

    api.encode(args.run, args.sounds, args.out, args.checkpoint)
    return 0


def cmd_synthesize(args) -> int:
    from tunesmith import api

    api.synthesize(args.run, args.codes, args.out, args.checkpoint, args.seed)
    return 0


def cmd_mix(args) -> int:
    from tunesmith import api

    api.mix(args.run, args.first, args.second, args.weight, args.out, args.checkpoint, args.seed)
    return 0


def cmd_render(args) -> int:
    from tunesmith import api
    from tunesmith.media.render import GM_PROGRAMS

    if args.list_programs:
        for number, name in enumerate(GM_PROGRAMS):
            print(f"{number:>3}  {name}")
        return 0
    if not args.files:
        raise UserError("name the MIDI files to render (or --list-programs)")
    if args.root is not None and not args.instrument:
        raise UserError("--root goes with --instrument")
    path = None
    if args.timbre_path:
        seeds = args.timbre_path.split(",")
        if len(seeds) != 2 or not all(seed.strip().lstrip("-").isdigit() for seed in seeds):
            raise UserError(f"--timbre-path {args.timbre_path}: give two seeds, as A,B (e.g. 1,7)")
        path = (int(seeds[0]), int(seeds[1]))
    api.render(args.files, args.out, args.soundfont, args.program, args.effects, args.format, args.sample_rate,
               args.instrument, args.root, args.timbre_seed, path)
    return 0


def cmd_transcribe(args) -> int:
    from tunesmith import api
    from tunesmith.media.transcribe import TranscribeSettings

    settings = TranscribeSettings(args.onset_threshold, args.frame_threshold, args.min_note_ms, args.min_pitch,
                                  args.max_pitch)
    api.transcribe(args.inputs, args.out, settings)
    return 0


def cmd_pipeline(args) -> int:
    from tunesmith.pipeline import runner

    if args.why and args.action != "status":
        raise UserError("--why goes with pipeline status")

    def report(result) -> None:
        if args.json:
            print(json.dumps(result.to_dict()), flush=True)
        else:
            for stage in result.stages:
                print(stage.line(), flush=True)

    if args.action == "run":
        result = runner.run_pipeline(args.spec, args.input, args.store, args.executor, args.address, args.workers)
        report(result)
        return 1 if any(stage.failed for stage in result.stages) else 0
    if args.action == "watch":
        try:
            runner.watch(args.spec, args.input, args.store, args.executor, args.address, args.interval, report)
        except KeyboardInterrupt:
            print("tunesmith: stopped watching", file=sys.stderr)
        return 0
    if args.why:
        found = runner.why(args.spec, args.why, args.input, args.store)
        if args.json:
            print(json.dumps(found))
            return 0
        print(found["output"])
        for link in found["chain"]:
            names = [d["name"] for d in link["datums"]]
            shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
            print(f"  <- {link['stage']}: {shown}")
        inputs = found["inputs"]
        print(f"from {len(inputs)} input file{'s' if len(inputs) != 1 else ''}:")
        for item in inputs:
            print(f"  {item['name']}  sha1 {item['digest']}")
        return 0
    result = runner.pipeline_status(args.spec, args.input, args.store)
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    for stage in result.stages:
        print(stage.status_line())
    for failure in result.failures:
        print(f"  failed last time: {failure['stage']}: {failure['name']}: {failure['error']}")
    return 0


def cmd_eval(args) -> int:
    from tunesmith import api

    result = api.evaluate(args.run, args.data, args.checkpoint, args.samples, args.seed, args.seconds)
    if args.json:
        print(json.dumps(result))
        return 0
    unit = result["unit"]
    rows = [("run", result["run"]), ("checkpoint", f"step {result['checkpoint_step']}"),
            ("data", f"{result['data']} ({result['split']})"), (f"{unit}s", f"{result['tokens']:,}"),
            *([(f"loss (nats/{unit})", f"{result['loss_nats']:.4f}"), (f"bits/{unit}", f"{result['bits_per_unit']:.4f}")]
              if result["bits_per_unit"] is not None else [("loss", f"{result['loss_nats']:.4f}")])]
    for name in result.get("objective_metrics", []):
        value = result[name]
        rows.append((name.replace("_", " "), f"{value:.4f}" if isinstance(value, float) else f"{value:,}"))
    if result.get("nats_per_second") is not None:
        rows.append(("nats/second", f"{result['nats_per_second']:.2f}"))
    if "test" in result:
        test = result["test"]
        rows += [(f"test {unit}s", f"{test['tokens']:,}"),
                 (f"test bits/{unit}", f"{test['bits_per_unit']:.4f}") if test["bits_per_unit"] is not None
                 else ("test loss", f"{test['loss_nats']:.4f}")]
    for key, value in rows:
        print(f"{key:<22} {value}")
    if "music" in result:
        from tunesmith.music_stats import format_table

        print("\nmusical statistics, generated vs held-out:")
        print(format_table(result["music"]))
    if "audio" in result:
        from tunesmith.audio_stats import format_table

        print("\naudio statistics, generated clips vs training audio:")
        print(format_table(result["audio"]))
    if "generated" in result:  # what the recipe's generator measured of its own sound
        from tunesmith.recipes import RECIPES

        print("\n" + RECIPES[result["recipe"]].generator.format_assessment(result["generated"]))
    if "saved" in result:
        print(f"saved {result['saved']}")
    return 0


def cmd_runs(args) -> int:
    from tunesmith import api

    found = api.list_runs(args.dir)
    bundled = [] if args.dir else api.list_bundled_models()
    if args.json:
        for row in found + bundled:
            print(json.dumps(row))
        return 0
    if found:
        print(f"{'run':<44} {'recipe':<12} {'step':>7} {'best val':>9}  created")
        for row in found:
            best = "-" if row["best_val_loss"] is None else f"{row['best_val_loss']:.4f}"
            print(f"{row['run']:<44} {row['recipe']:<12} {row['step']:>7} {best:>9}  {row['created']}")
    elif args.dir:
        print(f"no runs in {args.dir}")
    if found and bundled:
        print(f"\nbundled models, sampled by name: {', '.join(row['run'] for row in bundled)}")
    elif bundled:
        print("no runs yet in runs/; train one with\n  tunesmith train melody-rnn --minutes 10\n\n"
              "or sample a bundled model right away:")
        print(f"  {'model':<22} {'recipe':<18} {'makes':<30} try")
        for row in bundled:
            print(f"  {row['run']:<22} {row['recipe']:<18} {row['makes']:<30} tunesmith sample {row['run']}")
    return 0


def cmd_corpus(args) -> int:
    from tunesmith import api

    if args.corpus_verb == "export":
        api.export_corpus(args.name, args.folder)
        return 0
    if args.corpus_verb != "list":
        raise UserError("say `tunesmith corpus list` or `tunesmith corpus export NAME DIR`")
    rows = api.list_corpora()
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    print(f"{'name':<14} {'files':>6} {'size':>25}  description")
    for row in rows:
        if "characters" in row:
            size = f"{row['characters']:,} chars"
        elif "notes" in row:
            size = f"{row['notes']:,} notes, {row['minutes']} min"
        else:  # audio, measured once rendered
            size = f"{row['minutes']} min" if isinstance(row["minutes"], (int, float)) else row["minutes"]
        print(f"{row['name']:<14} {row['files']:>6} {size:>25}  {row['description']}")
    return 0


# -- the studio's command (cmd_studio) --
def cmd_studio(args) -> int:
    import webbrowser

    from tunesmith.studio.server import serve

    if not 0 < args.port < 65536:
        raise UserError(f"--port {args.port}: give a port from 1 to 65535")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"tunesmith: warning: serving on {args.host}: anyone who can reach this address can use the studio "
              "(it has no login)", file=sys.stderr)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else shown}:{args.port}/"

    def ready() -> None:
        print(f"tunesmith studio: {url} (Ctrl+C stops it)", flush=True)
        if not args.no_browser:
            webbrowser.open(url)

    serve(args.host, args.port, args.runs, args.folder, ready)
    return 0
# -- end of the studio's command --


# -- live MIDI commands (cmd_play, cmd_ports, cmd_jam) --
def cmd_play(args) -> int:
    from tunesmith import live

    played = live.play_file(args.file, args.port, args.virtual)
    print(f"played {Path(args.file).name} ({played['notes']} notes, {played['seconds']:.1f} s) on {played['port']}")
    return 0


def cmd_ports(args) -> int:
    from tunesmith import live

    names = live.port_names()
    for direction, heading in (("inputs", "MIDI inputs (to listen on)"), ("outputs", "MIDI outputs (to play to)")):
        print(f"{heading}, {live.backend().upper()}:")
        for name in names[direction] or ["(none)"]:
            print(f"  {name}")
    return 0


def cmd_jam(args) -> int:
    from tunesmith import live
    from tunesmith.generation.strategies import Strategy

    strategy = Strategy(args.temperature)
    strategy.check()
    try:
        live.jam(args.run, args.port_in, args.port_out, args.bpm, args.bars, args.pause, args.cc, args.metronome,
                 args.clock, args.answers, strategy, args.seed, args.checkpoint, args.follow_clock,
                 live.Metre.parse(args.metre), args.virtual_in, args.virtual_out)
    except KeyboardInterrupt:
        print("tunesmith: stopped the jam", file=sys.stderr)
    return 0
# -- end of the live MIDI commands --


def cmd_board(args) -> int:
    if not Path(args.run).exists():
        raise UserError(f"no such run or folder: {args.run}")
    tensorboard = shutil.which("tensorboard") or str(Path(sys.executable).parent / "tensorboard")
    if not Path(tensorboard).exists():
        raise UserError("tensorboard is not installed; run `make install` or `pip install tensorboard`")
    os.execv(tensorboard, [tensorboard, "--logdir", str(args.run), "--port", str(args.port)])
    return 0


def main(argv: list[str] | None = None) -> int:
    from tunesmith import console

    parser = build_parser()
    args = parser.parse_args(argv)
    console.attach()
    if not args.verb:
        parser.print_help()
        return 2
    commands = {"train": cmd_train, "sample": cmd_sample, "interpolate": cmd_interpolate, "encode": cmd_encode,
                "synthesize": cmd_synthesize, "mix": cmd_mix, "render": cmd_render, "transcribe": cmd_transcribe, "pipeline": cmd_pipeline, "eval": cmd_eval, "runs": cmd_runs, "corpus": cmd_corpus,
                "board": cmd_board, "studio": cmd_studio, "play": cmd_play, "ports": cmd_ports, "jam": cmd_jam}
    try:
        return commands[args.verb](args)
    except UserError as err:
        flag = f" (--{err.option.replace('_', '-')})" if err.option else ""
        print(f"tunesmith: error: {err}{flag}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tunesmith: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
