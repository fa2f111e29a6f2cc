"""Pictures of pieces: a piano-roll PNG of a Piece, drawn off-screen with matplotlib's Agg
renderer and written atomically."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import numpy as np

from tunesmith.media.files import write_atomic
from tunesmith.notes import Piece

PITCH_CLASS_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def pitch_name(pitch: int) -> str:
    """Scientific pitch notation for a MIDI pitch: 60 is C4."""
    return f"{PITCH_CLASS_NAMES[pitch % 12]}{pitch // 12 - 1}"


def piano_roll_png(piece: Piece, path: Path, color_by: str = "velocity", width: float = 12.0,
                   height: float = 5.0, dpi: int = 100) -> None:
    """Draw `piece` as a piano roll and write it to `path` as a PNG: seconds on x (at the piece's
    tempo), pitch on y labelled at each C, pitched notes as bars coloured by velocity (a colour bar)
    or by program (a legend), drum hits as black crosses at their instrument's note number, and the
    piece's name as the title."""
    if color_by not in ("velocity", "program"):
        raise ValueError(f"color_by must be 'velocity' or 'program', not {color_by!r}")
    from matplotlib import colormaps
    from matplotlib.collections import PolyCollection
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure  # a bare Figure uses Agg for PNG and never touches pyplot's state

    seconds_per_beat = 60.0 / piece.qpm
    notes = piece.notes
    pitched, drums = notes[~notes["is_drum"]], notes[notes["is_drum"]]
    fig = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    ax = fig.add_subplot()
    numerator, denominator = piece.time_signature
    title = piece.name or "untitled"
    ax.set_title(f"{title}  ({piece.qpm:g} qpm, {numerator}/{denominator}, {len(notes)} notes)")
    ax.set_xlabel("time (seconds)")
    ax.set_ylabel("pitch (drums: General MIDI key)" if len(drums) else "pitch")

    if len(pitched):
        start = pitched["start"] * seconds_per_beat
        end = pitched["end"] * seconds_per_beat
        pitch = pitched["pitch"].astype(np.float64)
        bars = np.stack([np.stack([start, pitch - 0.4], 1), np.stack([end, pitch - 0.4], 1),
                         np.stack([end, pitch + 0.4], 1), np.stack([start, pitch + 0.4], 1)], 1)
        if color_by == "velocity":
            norm = Normalize(1, 127)
            collection = PolyCollection(bars, array=pitched["velocity"].astype(np.float64), cmap="viridis",
                                        norm=norm, edgecolors="black", linewidths=0.3)
            ax.add_collection(collection)
            fig.colorbar(collection, ax=ax, label="velocity", pad=0.01)
        else:
            palette = colormaps["tab10"]
            programs = sorted({int(p) for p in pitched["program"]})
            colours = {program: palette(i % 10) for i, program in enumerate(programs)}
            ax.add_collection(PolyCollection(bars, facecolors=[colours[int(p)] for p in pitched["program"]],
                                             edgecolors="black", linewidths=0.3))
            for program in programs:
                ax.plot([], [], "s", color=colours[program], label=f"program {program}")
    if len(drums):
        ax.plot(drums["start"] * seconds_per_beat, drums["pitch"], "x", color="black", markersize=4,
                label="drums")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize="small")

    if len(notes):
        low, high = int(notes["pitch"].min()) - 2, int(notes["pitch"].max()) + 2
        ax.set_xlim(0, max(piece.seconds, 1e-6) * 1.01)
    else:
        low, high = 48, 84
        ax.set_xlim(0, 1)
        ax.text(0.5, 0.5, "no notes", transform=ax.transAxes, ha="center", va="center", color="gray")
    ax.set_ylim(low, high)
    labelled = range(0, 128, 12) if high - low > 24 else [p for p in range(128) if "#" not in pitch_name(p)]
    ticks = [p for p in labelled if low <= p <= high]   # every C, or every white key in a narrow range
    ax.set_yticks(ticks, [pitch_name(p) for p in ticks])
    ax.grid(axis="y", color="0.9", linewidth=0.5)
    ax.set_axisbelow(True)

    buffer = BytesIO()
    fig.savefig(buffer, format="png")
    fig.clear()
    write_atomic(Path(path), buffer.getvalue())
