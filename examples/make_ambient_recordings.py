"""Make an "ambient playlist" to try examples/ambient.toml on: the bundled Bach chorales rendered
through General MIDI pads with a room reverb, a few chorales back to back in each recording, as
mp3 files (so the pipeline's decode stage has real work). Nothing is downloaded.

    .venv/bin/python examples/make_ambient_recordings.py                       # 4 recordings of 1 minute
    .venv/bin/python examples/make_ambient_recordings.py --count 30 --minutes 3 --out /tmp/playlist
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile

from tunesmith import api
from tunesmith.corpus import list_files
from tunesmith.corpus.bundled import bundled_midi_folder
from tunesmith.errors import UserError
from tunesmith.media.audio import write_audio
from tunesmith.media.files import free_path, make_folder

PADS = ["Pad 2 (warm)", "Pad 1 (new age)", "Pad 4 (choir)", "Pad 7 (halo)"]
RATE = 22050
GAP = 1.5  # seconds of silence between two chorales


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=4, help="recordings (default 4)")
    parser.add_argument("--minutes", type=float, default=1.0, help="about this long each (default 1)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "recordings",
                        help="the folder (default examples/recordings)")
    parser.add_argument("--format", default="mp3", help="mp3 (default), flac, wav, ogg")
    args = parser.parse_args()
    try:
        chorales = list_files(bundled_midi_folder("chorales"), (".mid",))
        folder = make_folder(args.out)
        used = 0
        for number in range(args.count):
            pad = PADS[number % len(PADS)]
            parts, seconds = [], 0.0
            with tempfile.TemporaryDirectory() as scratch:
                while seconds < args.minutes * 60:
                    chorale = chorales[used % len(chorales)]
                    used += 1
                    audio_path, = api.render([chorale], scratch, program=pad, effects="room", audio_format="flac",
                                             sample_rate=RATE)
                    samples, _ = soundfile.read(audio_path, dtype="float32")
                    parts += [samples, np.zeros(int(GAP * RATE), np.float32)]
                    seconds += len(samples) / RATE + GAP
            path = free_path(folder / f"ambient-{number + 1:02d}.{args.format}")
            write_audio(path, np.concatenate(parts) * 0.9, RATE)
            print(f"{path}: {seconds / 60:.1f} minutes, {pad}")
    except UserError as err:
        print(f"make_ambient_recordings: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
