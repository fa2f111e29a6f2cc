"""MusicVAE on the shared seams: the ELBO objective's terms, and for each kind of phrase (melody,
drums, trio) a tiny model trained a few steps, sampled, interpolated and evaluated through the CLI;
interpolation ends are the reconstructions of its inputs; bad requests are one line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import run_cli
from tunesmith import api
from tunesmith.notes import Piece, make_notes, read_midi, write_midi
from tunesmith.training.objectives import ELBO, kl_cost, kl_weight

TINY_VAE = ["z_size=8", "encoder_size=16", "decoder_size=16", "conductor_size=16", "embedding_size=8",
            "batch_size=8", "eval_every=4", "decoder_layers=1", "conductor_layers=1"]


def settings(*extra: str) -> list[str]:
    return [arg for setting in [*TINY_VAE, *extra] for arg in ("--set", setting)]


# -- the ELBO objective ----------------------------------------------------------------------------

def test_kl_weight_and_free_bits_as_stated():
    assert kl_weight(0, 0.5, 0.999) == 0.0
    assert math.isclose(kl_weight(1000, 0.5, 0.999), (1 - 0.999 ** 1000) * 0.5)
    kl = torch.tensor([10.0, 40.0, 0.0])
    free = 48 * math.log(2)  # 33.27 nats
    assert torch.allclose(kl_cost(kl, 48), torch.tensor([0.0, 40.0 - free, 0.0]))
    assert torch.equal(kl_cost(kl, 0), kl)


class FixedTerms(torch.nn.Module):
    """A stand-in VAE whose loss terms are fixed numbers times one weight (so there is a gradient)."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(()))

    def forward(self, phrases):
        return {"nll": self.weight * torch.tensor([20.0, 30.0]), "kl": self.weight * torch.tensor([40.0, 10.0]),
                "accuracy": torch.tensor([0.5, 1.0])}


def test_elbo_step_weighs_the_kl_beyond_the_free_bits():
    hp = {"preset": "custom", "max_beta": 0.5, "free_bits": 8.0, "beta_rate": 0.9, "lr": 0.0, "weight_decay": 0.0}
    objective = ELBO(FixedTerms(), hp)
    seen = []
    metrics = objective.step((torch.zeros(2, 4, 1),), 10, lambda optimizer, loss: seen.append(loss.item()) or 1.0)
    beta = (1 - 0.9 ** 10) * 0.5
    free = 8 * math.log(2)
    expected = ((20 + beta * (40 - free)) + (30 + beta * max(10 - free, 0))) / 2
    assert math.isclose(seen[0], expected, rel_tol=1e-6) and math.isclose(metrics["loss"], expected, rel_tol=1e-6)
    assert metrics["nll"] == 25.0 and metrics["kl"] == 25.0 and metrics["accuracy"] == 0.75
    assert ELBO(FixedTerms(), {**hp, "preset": "sampling"}).free_bits == 0.0  # a preset overrides the two settings


# -- tiny corpora of each kind ---------------------------------------------------------------------

def melody_notes(rng: np.random.Generator, bars: int, program: int = 0, low: int = 60, step: float = 0.5) -> list:
    rows, time = [], 0.0
    while time < bars * 4:
        pitch = int(low + rng.choice([0, 2, 4, 5, 7, 9, 11, 12]))
        rows.append((time, time + step, pitch, 90, program, False))
        time += step
    return rows


def drum_notes(rng: np.random.Generator, bars: int) -> list:
    rows = []
    for beat in np.arange(0, bars * 4, 0.5):
        rows.append((beat, beat + 0.25, 42, 80, 0, True))
        if beat % 2 == 0:
            rows.append((beat, beat + 0.25, 36 if rng.random() < 0.8 else 38, 100, 0, True))
    return rows


def make_corpus(folder: Path, kind: str, files: int = 12, bars: int = 6) -> Path:
    rng = np.random.default_rng(7)
    folder.mkdir(parents=True)
    for k in range(files):
        rows = []
        if kind in ("melody", "trio"):
            rows += melody_notes(rng, bars, program=73 if kind == "trio" else 0)
        if kind in ("drums", "trio"):
            rows += drum_notes(rng, bars)
        if kind == "trio":
            rows += melody_notes(rng, bars, program=33, low=36, step=1.0)
        write_midi(Piece(make_notes(rows), qpm=100), folder / f"{kind}-{k:02d}.mid")
    return folder


@pytest.mark.parametrize("kind", ["melody", "drums", "trio"])
def test_each_kind_trains_samples_interpolates_and_evaluates(tmp_path, kind, capsys):
    data = make_corpus(tmp_path / "corpus", kind)
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "music-vae", "--data", str(data), "--run", str(run), "--steps", "8",
                           *settings(f"kind={kind}", "bars=2"))
    assert code == 0, err
    assert "training split: " in err and "phrases of 2 bars" in err and "from 1" in err  # counted before training
    config = json.loads((run / "codec.json").read_text())
    assert config["kind"] == kind and config["bars"] == 2

    code, _, err = run_cli(capsys, "sample", str(run), "--num-outputs", "3", "--bars", "4", "--seed", "1",
                           "--out", str(tmp_path / "samples/"))
    assert code == 0, err
    pieces = [read_midi(p) for p in sorted((tmp_path / "samples").glob("*.mid"))]
    assert len(pieces) == 3
    wanted_drums = kind != "melody"
    for piece in pieces:
        assert piece.beats <= 16 + 1e-9  # 4 bars of 4/4 at most
        assert bool(piece.notes["is_drum"].any()) == wanted_drums or len(piece) == 0

    out = tmp_path / "blend"
    files = sorted(data.glob("*.mid"))
    code, _, err = run_cli(capsys, "interpolate", str(run), str(files[0]), str(files[1]), "--steps", "4",
                           "--out", str(out), "--plot")
    assert code == 0, err
    assert sorted(p.name for p in out.glob("*.mid")) == [f"interpolation-{k}.mid" for k in range(1, 5)] + \
        ["interpolation-all.mid"]
    assert len(list(out.glob("*.png"))) == 5
    assert "using bars 1-2 of its 6" in err
    joined = read_midi(out / "interpolation-all.mid")
    assert joined.qpm == pytest.approx(100) and joined.time_signature == (4, 4)  # the first file's tempo and metre

    code, out_text, err = run_cli(capsys, "eval", str(run), "--json", "--samples", "2")
    assert code == 0, err
    result = json.loads(out_text)
    assert result["loss_nats"] > 0 and 0 <= result["accuracy"] <= 1 and result["kl"] >= 0
    assert "music" in result


def test_interpolation_ends_are_the_reconstructions(tmp_path, capsys):
    data = make_corpus(tmp_path / "corpus", "melody")
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "music-vae", "--data", str(data), "--run", str(run), "--steps", "30",
                           *settings("eval_every=30"))
    assert code == 0, err
    opened = api.open_model(run)
    files = sorted(data.glob("*.mid"))
    made = api.interpolate(opened, files[2], files[5], steps=3, out=tmp_path / "out")
    codec, model = opened.codec, opened.model
    for path, end in ((files[2], made.items[0]), (files[5], made.items[2])):
        phrase, _ = codec.first_phrase(read_midi(path))
        with torch.no_grad():
            mu, _ = model.encode(torch.from_numpy(phrase)[None])
            reconstruction = model.decode(mu, argmax=True)[0].numpy()
        assert np.array_equal(codec.as_phrase(codec.encode(end))[:codec.phrase_steps], reconstruction)
    assert len(made.items[-1]) == sum(len(item) for item in made.items[:-1])  # the joined file holds them all


def test_bad_requests_are_one_line(tmp_path, capsys):
    data = make_corpus(tmp_path / "corpus", "melody", files=10)
    run = tmp_path / "run"
    assert run_cli(capsys, "train", "music-vae", "--data", str(data), "--run", str(run), "--steps", "2",
                   *settings())[0] == 0
    drums = make_corpus(tmp_path / "drums", "drums", files=1) / "drums-00.mid"
    not_midi = tmp_path / "notes.txt"
    not_midi.write_text("not a MIDI file")
    empty = tmp_path / "empty.mid"
    write_midi(Piece(make_notes([])), empty)
    melody = sorted(data.glob("*.mid"))[0]
    cases = [
        (["interpolate", str(run), str(drums), str(melody)], "it has only drum notes"),
        (["interpolate", str(run), str(not_midi), str(melody)], "not a readable MIDI file"),
        (["interpolate", str(run), str(empty), str(melody)], "empty.mid"),
        (["interpolate", str(run), str(melody), str(melody), "--start-bar", "40"], "no 2-bar melody phrase"),
        (["interpolate", "melody-folk", str(melody), str(melody)], "interpolation needs a MusicVAE run"),
        (["sample", "melody-folk", "--similar-to", str(melody)], "only a MusicVAE run makes those"),
        (["sample", str(run), "--primer", str(melody)], "is not for a MusicVAE run"),
        (["train", "music-vae", "--data", str(data), "--steps", "1", "--set", "batch_size=5000"], "fewer than one batch"),
    ]
    for argv, message in cases:
        code, _, err = run_cli(capsys, *argv)
        assert code == 1 and message in err and "Traceback" not in err and err.count("\n") == err.count("tunesmith:"), \
            (argv, err)


def test_eval_compares_with_held_out_pieces_in_the_model_metre_and_the_benchmark_runs(tmp_path, capsys, monkeypatch):
    import sys

    data = make_corpus(tmp_path / "corpus", "melody", files=20)
    waltz = Piece(make_notes(melody_notes(np.random.default_rng(1), 6)), qpm=100, time_signature=(3, 4))
    for k in range(10):
        write_midi(waltz, data / f"waltz-{k}.mid")  # a third of the corpus in 3/4: left out of 4/4 phrases
    run = tmp_path / "run"
    assert run_cli(capsys, "train", "music-vae", "--data", str(data), "--run", str(run), "--steps", "4",
                   *settings())[0] == 0
    result = api.evaluate(run, samples=2)
    from tunesmith.corpus import split_by_document
    from tunesmith.corpus.midi import read_midi_corpus

    held_out = split_by_document(read_midi_corpus(str(data)), 0.1)[1]
    in_metre = [d for d in held_out if not d.name.startswith("waltz")]
    assert len(held_out) > len(in_metre) > 0  # the split holds pieces of both metres
    assert result["music"]["pieces"]["reference"] == len(in_metre)  # only 4/4 ones are compared

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import music_vae

    monkeypatch.setattr(sys, "argv", ["music_vae.py", "--steps", "3", "--data", str(data), "--run",
                                      str(tmp_path / "bench"), *[a for s in TINY_VAE for a in ("--set", s)]])
    music_vae.main()
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["benchmark"] == "music_vae" and line["steps"] == 3 and 0 <= line["sampled_accuracy"] <= 1
