"""Sampling audio as a musician asks for it: K clips generated together and streamed to WAV, FLAC
or MP3 files as they are made, a style of a conditioned WaveNet, and nothing half-written left
behind when sampling stops. The runs are tiny untrained WaveNets saved as a run directory (no
training needed: what is checked is the sampler and the files, not the music)."""

from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from conftest import run_cli
from tunesmith import runs
from tunesmith.generation import autoregressive as sampling
from tunesmith.generation.lengths import Length
from tunesmith.codecs.quantize import QuantizeCodec
from tunesmith.media.audio import ClipWriter
from tunesmith.media.domains import MIDI, TEXT, SampleOptions
from tunesmith.errors import UserError
from tunesmith.recipes import get_recipe

RATE = 8000
TINY = ["residual_channels=8", "dilation_channels=8", "skip_channels=16", "layers_per_block=3", "blocks=1",
        "q_levels=64"]


def make_run(folder: Path, styles: tuple[str, ...] = (), rate: int = RATE) -> Path:
    """A wavenet run with one checkpoint of random weights (conditioned on `styles` if any)."""
    recipe = get_recipe("wavenet")
    hparams = recipe.hparams([*TINY, f"sample_rate={rate}"])
    codec = QuantizeCodec(q_levels=64, sample_rate=rate)
    codec.styles = list(styles)
    torch.manual_seed(0)
    model = recipe.build_model(hparams, codec)
    folder.mkdir()
    runs.write_config(folder, {"recipe": "wavenet", "hparams": hparams})
    codec.save(folder / runs.CODEC)
    runs.save_checkpoint(folder, 1, model.state_dict(), None, {})
    return folder


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return make_run(tmp_path / "run")


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


@pytest.fixture
def blocks(monkeypatch) -> list[int]:
    """Small blocks, and the width of every block the clip writer receives."""
    monkeypatch.setattr(sampling, "BLOCK_STEPS", 100)
    widths = []
    write = ClipWriter.write

    def spy(self, block, keep):
        widths.append(block.shape[1])
        write(self, block, keep)

    monkeypatch.setattr(ClipWriter, "write", spy)
    return widths


def test_clips_are_streamed_to_files_in_bounded_blocks(run, out, blocks, capsys):
    code, _, err = run_cli(capsys, "sample", str(run), "--seconds", "0.1", "--num-outputs", "3", "--seed", "1",
                           "--out", str(out / "clip.wav"))
    assert code == 0, err
    clips = sorted(out.iterdir())
    assert [c.name for c in clips] == ["clip-1.wav", "clip-2.wav", "clip-3.wav"]  # no temporary file left
    samples = []
    for clip in clips:
        data, rate = soundfile.read(clip, dtype="float32")
        assert rate == RATE and len(data) == int(0.1 * RATE)
        samples.append(data)
    assert not np.array_equal(samples[0], samples[1])  # K outputs, not one copied
    # written while generated: 800 samples arrived in blocks of at most 100, never all at once
    assert sum(blocks) == 800 and max(blocks) == 100 and len(blocks) == 8
    assert "/0.1 s [" in err and "s/s]" in err  # the bar counts seconds of audio, with a rate


def test_a_primer_goes_first(run, out, tmp_path, capsys):
    primer = tmp_path / "take.wav"
    t = np.arange(RATE) / RATE
    soundfile.write(primer, 0.5 * np.sin(2 * np.pi * 220 * t), RATE)
    code, _, err = run_cli(capsys, "sample", str(run), "--primer", str(primer), "--primer-seconds", "0.05",
                           "--length", "200", "--num-outputs", "2", "--seed", "1", "--out", str(out))
    assert code == 0, err
    first, second = (soundfile.read(out / name, dtype="float32")[0] for name in ("sample-1.wav", "sample-2.wav"))
    assert len(first) == len(second) == 400 + 200
    assert np.array_equal(first[:400], second[:400]) and np.abs(first[:400]).max() > 0.4  # the primer
    assert not np.array_equal(first[400:], second[400:])


def test_flac_and_mp3_by_format_or_suffix(run, out, capsys):
    code, _, err = run_cli(capsys, "sample", str(run), "--seconds", "0.05", "--format", "flac", "--out", str(out))
    assert code == 0, err
    info = soundfile.info(out / "sample.flac")
    assert info.format == "FLAC" and info.samplerate == RATE and info.frames == 400

    code, _, err = run_cli(capsys, "sample", str(run), "--seconds", "0.05", "--out", str(out / "song.mp3"))
    assert code == 0, err
    data, rate = soundfile.read(out / "song.mp3")
    # an MP3 encoder pads to whole frames of 1152 (576 at low rates) samples; libsndfile trims it
    # from its header, but another decoder may not: allow a frame either way
    assert soundfile.info(out / "song.mp3").format == "MP3" and rate == RATE and abs(len(data) - 400) <= 1152

    code, _, err = run_cli(capsys, "sample", str(run), "--seconds", "0.05", "--out", str(out / "song.mp3"))
    assert code == 0, err
    assert (out / "song-2.mp3").is_file()  # the first is never overwritten


@pytest.mark.parametrize("args, message", [
    (["--format", "flac", "--out", "{out}/x.wav"], "does not end in .flac"),
    (["--out", "{out}/x.aiff"], "audio is written as .wav, .flac, .mp3, .ogg"),
    (["--beam", "2"], "beam search is for text and MIDI runs"),
    (["--style", "jazz"], "this model was not trained with styles"),
    (["--primer-steps", "4"], "primer_steps is for MIDI runs; this is a audio run"),
])
def test_bad_requests_are_one_line(run, out, args, message, capsys):
    args = [a.replace("{out}", str(out)) for a in args]
    code, _, err = run_cli(capsys, "sample", str(run), "--length", "10", *args)
    assert code == 1 and message in err and "Traceback" not in err
    assert list(out.iterdir()) == []


def test_format_is_refused_on_text_and_midi_runs():
    for domain in (TEXT, MIDI):
        with pytest.raises(UserError, match="format is for audio runs"):
            domain.context(None, SampleOptions(format="mp3"))


def test_mp3_it_cannot_write_is_one_line(tmp_path, out, monkeypatch, capsys):
    odd_rate = make_run(tmp_path / "odd", rate=7000)  # MPEG has no 7 kHz
    code, _, err = run_cli(capsys, "sample", str(odd_rate), "--length", "10", "--format", "mp3", "--out", str(out))
    assert code == 1 and "cannot write MP3 at 7000 Hz" in err and list(out.iterdir()) == []

    formats = {k: v for k, v in soundfile.available_formats().items() if k != "MP3"}  # an older libsndfile
    monkeypatch.setattr(soundfile, "available_formats", lambda: formats)
    code, _, err = run_cli(capsys, "sample", str(odd_rate), "--length", "10", "--out", str(out / "x.mp3"))
    assert code == 1 and "cannot write MP3" in err and list(out.iterdir()) == []


@pytest.mark.parametrize("failure", [KeyboardInterrupt, RuntimeError])
def test_a_stopped_sampling_leaves_no_file(run, out, blocks, failure, monkeypatch, capsys):
    mine = out / "clip-1.wav"
    mine.write_bytes(b"the user's own file")
    choose, steps = sampling.choose, []

    def failing_choose(*args):
        steps.append(1)
        if len(steps) > 250:
            raise failure()
        return choose(*args)

    monkeypatch.setattr(sampling, "choose", failing_choose)
    argv = ["sample", str(run), "--length", "400", "--num-outputs", "2", "--out", str(out / "clip.wav")]
    if failure is KeyboardInterrupt:
        code, _, err = run_cli(capsys, *argv)
        assert code == 130 and "interrupted" in err
    else:
        with pytest.raises(RuntimeError):
            run_cli(capsys, *argv)
    assert sum(blocks) == 2 * 100  # two blocks had gone to the temporary files
    assert list(out.iterdir()) == [mine] and mine.read_bytes() == b"the user's own file"


def test_style_of_a_conditioned_wavenet(tmp_path, out, capsys):
    run = make_run(tmp_path / "styled", styles=("jazz", "piano"))

    def clip(*args: str) -> tuple[np.ndarray, str]:
        path = out / f"{len(list(out.iterdir()))}.wav"
        code, _, err = run_cli(capsys, "sample", str(run), "--length", "300", "--seed", "4", "--out", str(path),
                               *args)
        assert code == 0, err
        return soundfile.read(path, dtype="float32")[0], err

    (jazz, _), (piano, _) = clip("--style", "jazz"), clip("--style", "piano")
    assert not np.array_equal(jazz, piano)
    assert np.array_equal(clip("--style", "piano")[0], piano)  # the same seed and style repeat
    first, err = clip()
    assert np.array_equal(first, jazz) and "style jazz (this model knows jazz, piano; ask for one by its style)" in err
    code, _, err = run_cli(capsys, "sample", str(run), "--style", "polka", "--out", str(out))
    assert code == 1 and "trained on the styles jazz, piano" in err


def test_generate_takes_a_condition():
    """What the trainer's preview passes for a conditioned model: condition=<style index>."""
    from tunesmith.models.wavenet import WaveNet

    torch.manual_seed(0)
    model = WaveNet(64, 8, 8, 16, layers_per_block=3, blocks=1, global_conditions=2)
    styles = [sampling.generate(model, [32], 50, 2, seed=1, condition=c) for c in (0, 1)]
    assert styles[0] != styles[1] and styles[0] == sampling.generate(model, [32], 50, 2, seed=1, condition=0)


def test_audio_lengths_count_whole_samples_and_show_seconds():
    codec = QuantizeCodec(q_levels=64, sample_rate=RATE)
    weights, target, unit, scale = Length().measure(codec, 64, 120.0)
    assert (target, unit, scale) == (5 * RATE, "s", 1 / RATE) and bool((weights == 1).all())  # 5 s by default
    assert Length(seconds=0.29).measure(codec, 64, 120.0)[1] == 2320  # not 2319 (0.29 * 8000 < 2320)
    assert Length(amount=1234).measure(codec, 64, 120.0)[1:3] == (1234, "s")
