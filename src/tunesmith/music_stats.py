"""Musical statistics of generated pieces against held-out ones, after Yang & Lerch (2018), "On the
evaluation of generative models in music": per-piece features and their overlapping areas."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from tunesmith.notes import Piece

PITCH_CLASS_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
MAJOR_STEPS = (0, 2, 4, 5, 7, 9, 11)
MINOR_STEPS = (0, 2, 3, 5, 7, 8, 10)  # natural minor

# The per-piece statistics compare() reports, in table order, with what each one measures.
STATISTICS = {
    "pitch_class_histogram": "pitch-class histogram",
    "mean_pitch": "mean pitch (MIDI)",
    "pitch_range": "pitch range (semitones)",
    "pitch_count": "pitches used",
    "pitch_class_entropy": "pitch-class entropy (bits)",
    "note_density": "note density (notes/s)",
    "mean_ioi": "mean inter-onset interval (s)",
    "note_length": "mean note length (s)",
    "longest_note": "longest note (s)",
    "polyphony": "polyphony (notes per onset)",
    "in_scale_rate": "in-scale rate",
}
SCALAR_STATISTICS = tuple(name for name in STATISTICS if name != "pitch_class_histogram")


@dataclass(frozen=True)
class PieceStats:
    """The features of one piece's non-drum notes. Undefined features (no pitched notes, a single
    onset) are nan; `inter_onset_intervals` may be empty."""

    pitch_class_histogram: np.ndarray   # 12 shares of notes per pitch class, summing to 1 (nan if no notes)
    mean_pitch: float                   # mean MIDI pitch of the notes: the register
    pitch_range: float                  # highest minus lowest MIDI pitch
    pitch_count: float                  # how many different pitches are used
    pitch_class_entropy: float          # Shannon entropy of the pitch-class histogram in bits (0..log2 12)
    note_density: float                 # notes per second over the piece's length
    inter_onset_intervals: np.ndarray   # seconds between consecutive distinct onsets
    note_length: float                  # mean note duration in seconds
    longest_note: float                 # the longest note in seconds (a drone shows here)
    polyphony: float                    # mean number of notes sounding at each distinct onset
    in_scale_rate: float                # share of notes in the best-fitting major or minor scale
    key: str                            # that scale, e.g. "C major" ("" if no notes)

    @property
    def mean_ioi(self) -> float:
        """The piece's average inter-onset interval in seconds (Yang & Lerch's "avg_IOI")."""
        intervals = self.inter_onset_intervals
        return float(intervals.mean()) if len(intervals) else math.nan


def scale_pitch_classes(tonic: int, mode: str) -> frozenset[int]:
    """The pitch classes of a major or natural-minor scale on `tonic` (0 = C)."""
    steps = MAJOR_STEPS if mode == "major" else MINOR_STEPS
    return frozenset((tonic + step) % 12 for step in steps)


def best_key(pitches: np.ndarray) -> tuple[str, float]:
    """The major or minor key whose scale holds the most of these pitches, and that share. Ties
    (a major key and its relative minor always tie) go to the first in C, C#, ... order, major
    before minor."""
    if not len(pitches):
        return "", math.nan
    counts = np.bincount(np.asarray(pitches, dtype=np.int64) % 12, minlength=12)
    best, best_count = "", -1
    for mode in ("major", "minor"):
        for tonic in range(12):
            count = int(sum(counts[pc] for pc in scale_pitch_classes(tonic, mode)))
            if count > best_count:
                best, best_count = f"{PITCH_CLASS_NAMES[tonic]} {mode}", count
    return best, best_count / len(pitches)


def piece_stats(piece: Piece) -> PieceStats:
    """The features of a piece, computed on its non-drum notes; times in seconds at its tempo."""
    notes = piece.notes[~piece.notes["is_drum"]]
    seconds_per_beat = 60.0 / piece.qpm
    pitches = notes["pitch"].astype(np.int64)
    lengths = (notes["end"] - notes["start"]) * seconds_per_beat
    if len(notes):
        histogram = np.bincount(pitches % 12, minlength=12).astype(np.float64) / len(notes)
        used = histogram[histogram > 0]
        register = (float(pitches.mean()), float(pitches.max() - pitches.min()), float(len(np.unique(pitches))),
                    float(-(used * np.log2(used)).sum()), float(lengths.mean()), float(lengths.max()))
    else:
        histogram, register = np.full(12, math.nan), (math.nan,) * 6
    mean_pitch, pitch_range, pitch_count, entropy, note_length, longest_note = register
    duration = piece.seconds
    density = len(notes) / duration if duration > 0 else math.nan
    onsets = np.unique(notes["start"])
    intervals = np.diff(onsets) * seconds_per_beat
    if len(onsets):
        # Notes sounding at t: those started by t less those ended by t (every end follows its start).
        started = np.searchsorted(np.sort(notes["start"]), onsets, side="right")
        ended = np.searchsorted(np.sort(notes["end"]), onsets, side="right")
        polyphony = float((started - ended).mean())
    else:
        polyphony = math.nan
    key, in_scale = best_key(pitches)
    return PieceStats(histogram, mean_pitch, pitch_range, pitch_count, entropy, float(density), intervals,
                      note_length, longest_note, polyphony, float(in_scale), key)


def _bandwidth(values: np.ndarray, rule: str) -> float:
    """A Gaussian kernel's bandwidth by Silverman's rule of thumb, 0.9 min(sd, IQR/1.34) n^-1/5
    (falling back to sd when the IQR is 0), or Scott's, sd n^-1/5."""
    n, sd = len(values), float(values.std(ddof=1)) if len(values) > 1 else 0.0
    if rule == "scott":
        return sd * n ** -0.2
    if rule != "silverman":
        raise ValueError(f"unknown bandwidth rule {rule!r}: use 'silverman' or 'scott'")
    q75, q25 = np.percentile(values, [75, 25])
    spread = min(sd, (q75 - q25) / 1.34) if q75 > q25 else sd
    return 0.9 * spread * n ** -0.2


def _density(values: np.ndarray, bandwidth: float, grid: np.ndarray, chunk: int = 256) -> np.ndarray:
    """A Gaussian kernel density estimate of `values` on `grid`, evaluated in chunks of samples."""
    total = np.zeros_like(grid)
    for i in range(0, len(values), chunk):
        z = (grid[:, None] - values[None, i:i + chunk]) / bandwidth
        total += np.exp(-0.5 * z * z).sum(axis=1)
    return total / (len(values) * bandwidth * math.sqrt(2 * math.pi))


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2)


def overlapping_area(a, b, bandwidth: str = "silverman", max_grid: int = 1 << 15) -> float:
    """The overlapping area, in [0, 1], of the distributions of samples `a` and `b`: the integral of
    the smaller of their Gaussian kernel density estimates, each with its own bandwidth (rule
    "silverman" or "scott"), on a shared grid that spans both sets plus 5 bandwidths either side and
    resolves the narrower kernel. nan values are dropped. Degenerate cases: an empty set gives nan;
    a set with one value, or all its values equal, takes the other set's bandwidth; if both sets are
    constant the area is 1.0 for the same constant and 0.0 for different ones."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if not len(a) or not len(b):
        return math.nan
    pooled = np.concatenate([a, b])
    widths = [_bandwidth(s, bandwidth) if s.min() < s.max() else 0.0 for s in (a, b)]
    if not any(widths):  # both sets constant (or a single value each): equal or disjoint
        return 1.0 if pooled.min() == pooled.max() else 0.0
    widths = [w if w > 0 else max(widths) for w in widths]
    low, high = pooled.min() - 5 * max(widths), pooled.max() + 5 * max(widths)
    points = int(np.clip(math.ceil((high - low) / (min(widths) / 8)), 1024, max_grid))
    grid = np.linspace(low, high, points)
    density_a, density_b = (_density(s, w, grid) for s, w in zip((a, b), widths))
    # Renormalise on the grid so that discretisation error cannot push the area past 1.
    density_a /= _trapezoid(density_a, grid)
    density_b /= _trapezoid(density_b, grid)
    return float(np.clip(_trapezoid(np.minimum(density_a, density_b), grid), 0.0, 1.0))


def json_float(value: float) -> float | None:
    """A plain float for JSON, None for nan."""
    value = float(value)
    return value if math.isfinite(value) else None


def summary(values: np.ndarray) -> dict[str, Any]:
    """Mean, standard deviation and count of the finite values of one statistic over one set."""
    values = values[np.isfinite(values)]
    if not len(values):
        return {"mean": None, "std": None, "n": 0}
    return {"mean": json_float(values.mean()), "std": json_float(values.std()), "n": int(len(values))}


def _histogram_summary(histograms: np.ndarray) -> dict[str, Any]:
    """Per-pitch-class mean and standard deviation over the pieces that have pitched notes."""
    histograms = histograms[np.isfinite(histograms).all(axis=1)]
    if not len(histograms):
        return {"mean": None, "std": None, "n": 0}
    return {"mean": [json_float(v) for v in histograms.mean(axis=0)],
            "std": [json_float(v) for v in histograms.std(axis=0)], "n": int(len(histograms))}


def histogram_overlap(a: np.ndarray, b: np.ndarray, bandwidth: str = "silverman") -> float:
    """The overlapping area of two sets of pitch-class histograms (rows of 12): the mean over the 12
    pitch classes of the overlapping area of that pitch class's share across the pieces of each
    set. A pitch class that no piece of either set uses counts as full overlap."""
    a = a[np.isfinite(a).all(axis=1)] if len(a) else a
    b = b[np.isfinite(b).all(axis=1)] if len(b) else b
    if not len(a) or not len(b):
        return math.nan
    return float(np.mean([overlapping_area(a[:, pc], b[:, pc], bandwidth) for pc in range(12)]))


def compare(generated: list[Piece], reference: list[Piece], bandwidth: str = "silverman",
            statistics: tuple[str, ...] = tuple(STATISTICS)) -> dict[str, Any]:
    """Each statistic's (of `statistics`, keys of STATISTICS) mean and standard deviation over each
    set and the overlapping area of its distributions in the two sets (1 = indistinguishable, 0 = disjoint), plus `mean_overlap`, the
    mean of those areas. Scalar statistics compare one value per piece; the pitch-class histogram
    compares each pitch class's share per piece (see `histogram_overlap`). JSON-serialisable:
    undefined numbers are None."""
    stats = {"generated": [piece_stats(p) for p in generated], "reference": [piece_stats(p) for p in reference]}
    result: dict[str, Any] = {"pieces": {side: len(s) for side, s in stats.items()}, "bandwidth": bandwidth,
                              "statistics": {}}
    if "pitch_class_histogram" in statistics:
        histograms = {side: np.array([s.pitch_class_histogram for s in items]).reshape(-1, 12)
                      for side, items in stats.items()}
        result["statistics"]["pitch_class_histogram"] = {
            **{side: _histogram_summary(h) for side, h in histograms.items()},
            "overlap": json_float(histogram_overlap(histograms["generated"], histograms["reference"], bandwidth)),
        }
    for name in (name for name in SCALAR_STATISTICS if name in statistics):
        values = {side: np.array([getattr(s, name) for s in items], dtype=np.float64)
                  for side, items in stats.items()}
        result["statistics"][name] = {
            **{side: summary(v) for side, v in values.items()},
            "overlap": json_float(overlapping_area(values["generated"], values["reference"], bandwidth)),
        }
    overlaps = [s["overlap"] for s in result["statistics"].values() if s["overlap"] is not None]
    result["mean_overlap"] = json_float(np.mean(overlaps)) if overlaps else None
    return result


def overlap_table(result: dict[str, Any], labels: dict[str, str], cell: Callable[[str, dict[str, Any]], str],
                  generated: str, reference: str) -> list[str]:
    """The lines of a compare() result as a table: statistic, generated, reference, overlap, and
    the mean overlap below a rule; `cell(name, summary)` writes one side of one statistic."""
    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    rows = [("statistic", generated, reference, "overlap")]
    for name, entry in result["statistics"].items():
        rows.append((labels.get(name, name), cell(name, entry["generated"]), cell(name, entry["reference"]),
                     fmt(entry["overlap"])))
    rows.append(("mean overlap", "", "", fmt(result["mean_overlap"])))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
             for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    return lines


def _cell(name: str, summary: dict[str, Any]) -> str:
    if summary["mean"] is None:
        return "-"
    if isinstance(summary["mean"], list):
        return f"{summary['n']} pieces"
    return f"{summary['mean']:.3g} ± {summary['std']:.2g}"


def format_table(result: dict[str, Any]) -> str:
    """compare()'s result as a plain-text table, with the mean pitch-class histograms below it."""
    lines = overlap_table(result, STATISTICS, _cell, f"generated ({result['pieces']['generated']})",
                          f"reference ({result['pieces']['reference']})")
    histogram = result["statistics"].get("pitch_class_histogram")
    if histogram:
        lines += ["", "mean pitch-class shares (%)", "           " + "".join(f"{n:>5}" for n in PITCH_CLASS_NAMES)]
        for side in ("generated", "reference"):
            mean = histogram[side]["mean"]
            cells = "".join(f"{100 * v:5.1f}" for v in mean) if mean else "    -"
            lines.append(f"{side:<11}{cells}")
    return "\n".join(lines)
