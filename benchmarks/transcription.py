"""Benchmark: `tunesmith transcribe` accuracy and speed. Known MIDI (a fixed, evenly spaced choice
of bundled chorales and folk tunes, each trimmed to --seconds) is rendered through FluidSynth with
a piano (GM 0) and a pad (GM 89, "Pad 2 (warm)") at 22050 Hz; basic-pitch's activations are
computed once per rendering, and every point of a grid of onset threshold, frame threshold and
minimum note length is scored against the MIDI's own notes with mir_eval: onset F-measure (50 ms,
pitch ignored) and note F-measure (onset within 50 ms and pitch within 50 cents, offsets ignored),
averaged over pieces, per instrument. The best settings maximize the mean of the piano's and the
pad's onset F. The onset lag of matched notes (within 150 ms) says whether the pad's slow attack
makes its onsets systematically late. Speed: seconds of audio per wall-clock second through
api.transcribe with the model already loaded (target: 20x real time on 2 cores). One JSON line.

    .venv/bin/python benchmarks/transcription.py
    .venv/bin/python benchmarks/transcription.py --pieces 4 --seconds 20 --json-only
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

import mir_eval
import numpy as np
from symusic import Score

from tunesmith import api
from tunesmith.corpus import list_files
from tunesmith.corpus.bundled import bundled_midi_folder
from tunesmith.media.render import render_midi
from tunesmith.media.transcribe import QPM, TranscribeSettings, read_mono, transcriber

SAMPLE_RATE = 22050
INSTRUMENTS = {"piano": 0, "pad": 89}  # GM programs: Acoustic Grand Piano, Pad 2 (warm)
TOLERANCE = 0.05  # seconds: mir_eval's usual onset tolerance
LAG_WINDOW = 0.15  # seconds: notes matched this far apart count towards the onset lag

# filled before the grid's worker processes fork: (instrument, piece) -> activations, piece -> reference
ACTIVATIONS: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
REFERENCES: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def say(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, file=sys.stderr, flush=True)


def choose(corpus: str, count: int) -> list[Path]:
    """`count` files of a bundled corpus, evenly spaced through its sorted list (a fixed choice)."""
    files = list_files(bundled_midi_folder(corpus), (".mid",))
    step = max(1, len(files) // max(count, 1))
    return files[::step][:count]


def trimmed(source: Path, seconds: float, target: Path) -> Path:
    """The MIDI file cut to its first `seconds` (notes sounding then are cut short), written to target."""
    score = Score(str(source)).to("second").clip(0.0, seconds, clip_end=True)
    target.write_bytes(score.dumps_midi())
    return target


def reference(midi: Path) -> tuple[np.ndarray, np.ndarray]:
    """The MIDI file's non-drum notes as mir_eval wants them: intervals in seconds and pitches in Hz;
    the same pitch struck at the same time by two voices (a unison, one sound) counts once."""
    found: dict[tuple[float, int], float] = {}
    for track in Score(str(midi)).to("second").tracks:
        if track.is_drum:
            continue
        for note in track.notes:
            key = (round(note.start, 3), int(note.pitch))
            found[key] = max(found.get(key, 0.0), note.start + note.duration)
    keys = sorted(found)
    intervals = np.array([[start, found[(start, pitch)]] for start, pitch in keys]).reshape(-1, 2)
    return intervals, mir_eval.util.midi_to_hz(np.array([pitch for _, pitch in keys], float))


def estimate(notes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A transcription's notes (quarter notes at QPM) as intervals in seconds and pitches in Hz."""
    intervals = np.stack([notes["start"], notes["end"]], axis=1).reshape(-1, 2) * 60 / QPM
    return intervals, mir_eval.util.midi_to_hz(notes["pitch"].astype(float))


def scores(ref: tuple[np.ndarray, np.ndarray], est: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
    """(onset F, note F) of an estimate against the reference."""
    if not len(est[0]):
        return 0.0, 0.0
    onset_f = mir_eval.transcription.onset_precision_recall_f1(ref[0], est[0], onset_tolerance=TOLERANCE)[2]
    note_f = mir_eval.transcription.precision_recall_f1_overlap(ref[0], ref[1], est[0], est[1],
                                                                onset_tolerance=TOLERANCE, offset_ratio=None)[2]
    return float(onset_f), float(note_f)


def lags(ref: tuple[np.ndarray, np.ndarray], est: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Seconds by which each estimated onset follows its reference note's (pitch-matched within LAG_WINDOW)."""
    if not len(est[0]):
        return np.zeros(0)
    pairs = mir_eval.transcription.match_notes(ref[0], ref[1], est[0], est[1], onset_tolerance=LAG_WINDOW,
                                               offset_ratio=None)
    return np.array([est[0][j, 0] - ref[0][i, 0] for i, j in pairs])


def grid_point(settings: TranscribeSettings) -> tuple[TranscribeSettings, dict[tuple[str, str], tuple[float, float]]]:
    """(onset F, note F) of every rendering at these settings (run in a worker process)."""
    model = transcriber()
    result = {}
    for (instrument, piece), (frames, onsets) in ACTIVATIONS.items():
        result[(instrument, piece)] = scores(REFERENCES[piece], estimate(model.notes_from(frames, onsets, settings)))
    return settings, result


def summary(result: dict[tuple[str, str], tuple[float, float]]) -> dict[str, dict[str, float]]:
    """Mean onset F and note F over pieces, per instrument."""
    out = {}
    for instrument in INSTRUMENTS:
        values = np.array([f for (kind, _), f in result.items() if kind == instrument])
        out[instrument] = {"onset_f": round(float(values[:, 0].mean()), 4), "note_f": round(float(values[:, 1].mean()), 4)}
    return out


def lag_summary(settings: TranscribeSettings, instrument: str) -> dict[str, float]:
    """The onset lag of matched notes at these settings, in ms: the median over all notes, its
    quartiles, the spread of the per-piece medians (a consistent lag has a small one), and the onset F
    that the estimates would have if moved earlier by the median lag."""
    model = transcriber()
    every, medians, shifted = [], [], []
    for (kind, piece), (frames, onsets) in ACTIVATIONS.items():
        if kind != instrument:
            continue
        est = estimate(model.notes_from(frames, onsets, settings))
        found = lags(REFERENCES[piece], est)
        every.append(found)
        if len(found):
            medians.append(float(np.median(found)))
    every = np.concatenate(every) if every else np.zeros(0)
    median = float(np.median(every)) if len(every) else 0.0
    for (kind, piece), (frames, onsets) in ACTIVATIONS.items():
        if kind == instrument:
            intervals, pitches = estimate(model.notes_from(frames, onsets, settings))
            shifted.append(scores(REFERENCES[piece], (np.maximum(intervals - median, 0.0), pitches))[0])
    q25, q75 = (np.percentile(every, [25, 75]) if len(every) else (0.0, 0.0))
    return {"median_ms": round(1000 * median, 1), "q25_ms": round(1000 * float(q25), 1),
            "q75_ms": round(1000 * float(q75), 1), "piece_medians_sd_ms": round(1000 * float(np.std(medians)), 1),
            "matched_notes": len(every), "onset_f_if_shifted": round(float(np.mean(shifted)), 4)}


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pieces", type=int, default=12, help="pieces from each corpus (chorales, folk)")
    parser.add_argument("--seconds", type=float, default=30.0, help="each piece trimmed to this many seconds")
    parser.add_argument("--onset-thresholds", type=floats, default=floats("0.5,0.6,0.7,0.8,0.9"),
                        help="comma-separated grid values (0.3 and 0.4 scored below 0.5 on both instruments)")
    parser.add_argument("--frame-thresholds", type=floats, default=floats("0.2,0.25,0.3,0.35,0.4"))
    # at most 128 ms (basic-pitch's own default): 160-200 ms scored up to 0.01 higher, but only 5% of
    # these pieces' notes are shorter than 160 ms, so the grid cannot see what a longer minimum costs
    # music with fast notes (a 16th at 120 qpm lasts 125 ms)
    parser.add_argument("--min-note-ms", type=floats, default=floats("30,58,100,128"))
    parser.add_argument("--workers", type=int, default=2, help="processes scoring the grid")
    parser.add_argument("--json-only", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args()
    quiet, began = args.json_only, time.monotonic()
    defaults = TranscribeSettings()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pieces = {}
        for corpus in ("chorales", "folk"):
            for source in choose(corpus, args.pieces):
                name = f"{corpus}-{source.stem}"
                midi = trimmed(source, args.seconds, folder / f"{name}.mid")
                ref = reference(midi)
                if len(ref[0]) >= 8:
                    pieces[name], REFERENCES[name] = midi, ref
        rendered = []
        for instrument, program in INSTRUMENTS.items():
            (folder / instrument).mkdir()
            for name, midi in pieces.items():
                rendered.append((instrument, name, render_midi(midi, folder / instrument / f"{name}.wav",
                                                               SAMPLE_RATE, program=program)))
        say(quiet, f"rendered {len(pieces)} pieces x {len(INSTRUMENTS)} instruments "
                   f"({time.monotonic() - began:.0f} s)")

        model = transcriber()  # loaded before timing
        audio = 0.0
        for _, _, wav in rendered:
            audio += len(read_mono(wav, SAMPLE_RATE)) / SAMPLE_RATE
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            api.transcribe([wav for _, _, wav in rendered], out)
            wall = time.perf_counter() - started
        speed = audio / wall
        say(quiet, f"api.transcribe: {audio:.0f} s of audio in {wall:.1f} s, {speed:.1f}x real time")

        for instrument, name, wav in rendered:
            ACTIVATIONS[(instrument, name)] = model.activations(read_mono(wav, SAMPLE_RATE))

    grid = [TranscribeSettings(onset, frame, ms, defaults.min_pitch, defaults.max_pitch) for onset, frame, ms
            in itertools.product(args.onset_thresholds, args.frame_thresholds, args.min_note_ms)]
    if defaults not in grid:
        grid.append(defaults)
    results = {}
    context = multiprocessing.get_context("fork")
    with context.Pool(max(1, args.workers)) as pool:
        for settings, result in pool.imap_unordered(grid_point, grid):
            results[settings] = summary(result)
            say(quiet, f"{len(results)}/{len(grid)} {settings.onset_threshold} {settings.frame_threshold} "
                       f"{settings.min_note_ms}: {results[settings]}")

    def overall(settings: TranscribeSettings) -> float:
        return (results[settings]["piano"]["onset_f"] + results[settings]["pad"]["onset_f"]) / 2

    best = max(grid, key=lambda s: (overall(s), results[s]["piano"]["note_f"] + results[s]["pad"]["note_f"]))
    best_pad = max(grid, key=lambda s: results[s]["pad"]["onset_f"])
    best_piano = max(grid, key=lambda s: results[s]["piano"]["onset_f"])
    keys = ("onset_threshold", "frame_threshold", "min_note_ms")
    print(json.dumps({
        "benchmark": "transcription", "pieces": len(pieces), "seconds_per_piece": args.seconds,
        "audio_seconds": round(audio, 1), "speed_x_real_time": round(speed, 1), "speed_target": 20,
        "best": {k: getattr(best, k) for k in keys}, "best_mean_onset_f": round(overall(best), 4),
        "at_best": results[best],
        "defaults": {k: getattr(defaults, k) for k in keys}, "defaults_mean_onset_f": round(overall(defaults), 4),
        "at_defaults": results[defaults],
        "best_for_piano": {**{k: getattr(best_piano, k) for k in keys}, **results[best_piano]["piano"]},
        "best_for_pad": {**{k: getattr(best_pad, k) for k in keys}, **results[best_pad]["pad"]},
        "pad_onset_lag": lag_summary(best, "pad"), "piano_onset_lag": lag_summary(best, "piano"),
        "pad_onset_lag_at_defaults": lag_summary(defaults, "pad"),
        "grid_points": len(grid), "wall_seconds": round(time.monotonic() - began, 1),
    }), flush=True)


if __name__ == "__main__":
    main()
