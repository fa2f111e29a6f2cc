"""The kinds of pipeline stage: what each takes and makes, its settings with their defaults, the
version of its code (part of every output's key), and its work.

Per-file kinds (decode, transcribe, render) map one file to one file through `process`, a plain
function of bytes to bytes that a pool worker or a Ray task runs anywhere (no shared folder
needed). Aggregate kinds (train, generate) take the whole set and run in the pipeline's process,
writing into the folder the store gives them."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from tunesmith.errors import UserError
from tunesmith.media.audio import AUDIO_SUFFIXES as AUDIO

MIDI = (".mid", ".midi", ".kar")
RUN = "run"  # what a train stage makes: one run folder


@dataclass
class Kind:
    help: str
    defaults: dict[str, Any]
    accepts: tuple[str, ...]  # suffixes of the files it takes (or RUN)
    makes: Callable[[dict[str, Any]], str]  # its output's suffix (or RUN), given its settings
    per_file: bool
    version: int  # raise when the kind's output for the same inputs and settings changes

    def check(self, table: dict[str, Any], where: str) -> dict[str, Any]:
        """The defaults overridden by `table`, each value of the default's type (a None default
        takes a string or a number); an unknown key or a wrong type is a UserError."""
        settings = dict(self.defaults)
        for key, value in table.items():
            if key not in self.defaults:
                raise UserError(f"{where}: no setting {key!r}; its settings are {', '.join(self.defaults)}")
            default = self.defaults[key]
            allowed = (str, int, float) if default is None else (int, float) if type(default) is float else type(default)
            if isinstance(value, bool) and type(default) is not bool or not isinstance(value, allowed):
                raise UserError(f"{where}: setting {key} = {value!r} should be like {default!r}")
            settings[key] = value
        return settings


def transcribe_defaults() -> dict[str, Any]:
    from dataclasses import asdict

    from tunesmith.media.transcribe import TranscribeSettings

    return asdict(TranscribeSettings())


def transcribe_version() -> int:
    from tunesmith.media.transcribe import VERSION

    return VERSION


KINDS: dict[str, Kind] = {
    "decode": Kind("recordings in any format to mono audio files at one sample rate",
                   {"sample_rate": 22050, "format": "flac"}, AUDIO, lambda s: f".{s['format']}", True, 1),
    "transcribe": Kind("recordings to MIDI files with basic-pitch (tunesmith transcribe)", transcribe_defaults(),
                       AUDIO, lambda s: ".mid", True, transcribe_version()),
    "train": Kind("MIDI files to a trained run of a MIDI recipe; on_change: retrain from scratch, or fine-tune "
                  "the last run, when the set of files changes",
                  {"recipe": "melody-rnn", "steps": 0, "minutes": 0.0, "seed": 1, "settings": {},
                   "on_change": "retrain"}, MIDI, lambda s: RUN, False, 1),
    "generate": Kind("a run to new MIDI files (tunesmith sample)",
                     {"count": 4, "seconds": 60.0, "temperature": 1.0, "bpm": 0.0, "seed": 1}, (RUN,),
                     lambda s: ".mid", False, 1),
    "render": Kind("MIDI files to audio through a SoundFont (tunesmith render)",
                   {"program": None, "effects": "none", "format": "wav", "sample_rate": 44100, "soundfont": ""},
                   MIDI, lambda s: f".{s['format']}", True, 1),
}


# -- per-file work: bytes in, bytes out ---------------------------------------------------------

@dataclass
class Outcome:
    ok: bool
    data: bytes = b""  # the output file's bytes
    error: str = ""  # why it failed (one line)
    seconds: float = 0.0  # wall-clock seconds of the work


def process(kind: str, settings: dict[str, Any], name: str, data: bytes) -> Outcome:
    """One datum through a per-file kind, in a temporary folder of this process; any failure is
    returned as an error line, never raised, so that one bad file never stops the others."""
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tunesmith-datum-") as folder:
        given = Path(folder) / f"input{Path(name).suffix.lower()}"
        try:
            given.write_bytes(data)
            made = WORK[kind](settings, given, Path(folder) / f"output{KINDS[kind].makes(settings)}")
            return Outcome(True, made, seconds=time.perf_counter() - began)
        except UserError as err:  # its message names the temporary file: name the datum instead
            return Outcome(False, error=str(err).replace(str(given), name), seconds=time.perf_counter() - began)
        except Exception as err:  # a bug or a library's crash on odd input: recorded, the others go on
            return Outcome(False, error=f"{type(err).__name__}: {err}", seconds=time.perf_counter() - began)


def decode(settings: dict[str, Any], given: Path, out: Path) -> bytes:
    from tunesmith.media.audio import AUDIO_FORMATS, write_audio
    from tunesmith.media.transcribe import read_mono

    if settings["format"] not in AUDIO_FORMATS:
        raise UserError(f"decode format {settings['format']!r}: choose one of {', '.join(AUDIO_FORMATS)}")
    samples = read_mono(given, int(settings["sample_rate"]))
    if not len(samples) or not abs(samples).max() > 0:
        raise UserError(f"{given} is silent")
    write_audio(out, samples, int(settings["sample_rate"]))
    return out.read_bytes()


def transcribe(settings: dict[str, Any], given: Path, out: Path) -> bytes:
    from tunesmith.media.transcribe import TranscribeSettings, transcriber

    midi, _ = transcriber(TranscribeSettings(**settings)).midi_bytes(given)
    return midi


def render(settings: dict[str, Any], given: Path, out: Path) -> bytes:
    from tunesmith.media.render import program_number, render_midi

    program = program_number(settings["program"]) if settings["program"] is not None else None
    render_midi(given, out, int(settings["sample_rate"]), settings["soundfont"] or None, program,
                settings["effects"], normalize=True)
    return out.read_bytes()


WORK = {"decode": decode, "transcribe": transcribe, "render": render}


def worker_setup() -> None:
    """A pool worker's start: one thread for the libraries that would each take every core."""
    import tunesmith.media.transcribe as transcription

    transcription.THREADS = 1
    os.environ.setdefault("OMP_NUM_THREADS", "1")


# -- aggregate work, in the pipeline's process ----------------------------------------------------

def train(settings: dict[str, Any], inputs: list[tuple[str, Path]], folder: Path, previous: Path | None) -> list[str]:
    """Train the recipe on the input MIDI files (linked by their datum names into folder/data)
    into folder/run: resumed if a run was cut short there, fine-tuned from `previous` (the last
    run of this stage) when on_change = "fine-tune", else trained from scratch."""
    from tunesmith import api, runs

    if settings["on_change"] not in ("retrain", "fine-tune"):
        raise UserError(f"train on_change {settings['on_change']!r}: choose retrain or fine-tune")
    data, run = folder / "data", folder / "run"
    data.mkdir(exist_ok=True)
    for name, path in inputs:
        link = data / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            try:
                os.link(path, link)
            except OSError:
                link.write_bytes(path.read_bytes())
    budget = {"steps": settings["steps"] or None, "minutes": settings["minutes"] or None}
    options = [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in settings["settings"].items()]
    if runs.is_run(run) and runs.list_checkpoints(run):
        result = api.train(settings["recipe"], str(data), run, resume=True, **budget)
    elif settings["on_change"] == "fine-tune" and previous is not None and runs.is_run(previous):
        result = api.train(settings["recipe"], str(data), run, seed=settings["seed"], init_from=previous, **budget)
    else:
        result = api.train(settings["recipe"], str(data), run, settings=options, seed=settings["seed"], **budget)
    if result.get("outcome") == "interrupted":
        raise KeyboardInterrupt
    return [RUN]


def generate(settings: dict[str, Any], inputs: list[tuple[str, Path]], folder: Path, previous: Path | None) -> list[str]:
    """settings["count"] new pieces from the run, each settings["seconds"] long, as song-K.mid."""
    from tunesmith import api
    from tunesmith.generation.lengths import Length
    from tunesmith.generation.request import SampleRequest
    from tunesmith.generation.strategies import Strategy
    from tunesmith.media.domains import SampleOptions

    (_, run), = inputs
    request = SampleRequest(SampleOptions(bpm=settings["bpm"] or None), Length(seconds=settings["seconds"]),
                            settings["count"], Strategy(temperature=settings["temperature"]), seed=settings["seed"],
                            out=folder / "song.mid")
    made = api.generate(run, request)
    return [path.name for path in made.paths]


AGGREGATE = {"train": train, "generate": generate}
