"""The bundled pretrained model, as `make demo` uses it."""

import json

from conftest import TUNESMITH, run_command
from tunesmith import runs


def test_bundled_model_writes_lyrics(tmp_path):
    done = run_command(*TUNESMITH, "sample", "char-rnn-lyrics", "--primer", "Sing unto the night", "--length",
                       "300", "--temperature", "0.7", "--seed", "1", "--out", str(tmp_path / "lyrics.txt"))
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "lyrics.txt").read_text(encoding="utf-8")
    assert text.startswith("Sing unto the night") and len(text) == len("Sing unto the night") + 300
    words = text.split()
    english = {"the", "and", "of", "to", "in", "he", "his", "shall", "lord", "is", "my", "i", "that", "not"}
    assert sum(w.lower().strip(".,;:!?") in english for w in words) >= len(words) * 0.15  # real words


def test_bundled_model_is_trained_and_small():
    run = runs.open_run("char-rnn-lyrics")
    assert (run / "TRAINED.md").read_text().count("tunesmith train char-rnn") == 1
    checkpoint = runs.find_checkpoint(run)
    assert (checkpoint["path"] / runs.WEIGHTS).stat().st_size < 8_000_000
    assert checkpoint["val_loss"] < 1.5
    done = run_command(*TUNESMITH, "eval", "char-rnn-lyrics", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["loss_nats"] < 1.5


def test_bundled_samplernn_writes_audio(tmp_path):
    import numpy as np
    import soundfile

    run = runs.open_run("samplernn-chorales")
    assert (run / "TRAINED.md").read_text().count("tunesmith train samplernn") == 1
    assert (runs.find_checkpoint(run)["path"] / runs.WEIGHTS).stat().st_size < 8_000_000
    done = run_command(*TUNESMITH, "sample", "samplernn-chorales", "--seconds", "0.5", "--seed", "1",
                       "--out", str(tmp_path / "clip.wav"))
    assert done.returncode == 0, done.stderr
    samples, rate = soundfile.read(tmp_path / "clip.wav")
    assert rate == 16000 and len(samples) == 8000
    assert 0.001 < np.sqrt(np.mean(samples ** 2)) < 0.9  # sound, neither silence nor a clipped wall


def test_bundled_music_vae_interpolates_the_demo_jigs(tmp_path):
    """`make demo`'s interpolation: five 2-bar 6/8 phrases from one bundled jig to the other, whose
    ends reconstruct the two jigs closely (the bundled model's reconstruction accuracy)."""
    import numpy as np

    from tunesmith import api
    from tunesmith.notes import read_midi

    run = runs.open_run("music-vae-folk")
    assert (run / "TRAINED.md").read_text().count("tunesmith train music-vae") == 1
    assert (runs.find_checkpoint(run)["path"] / runs.WEIGHTS).stat().st_size < 8_000_000
    primers = runs.PRETRAINED_DIR.parent / "primers"
    done = run_command(*TUNESMITH, "interpolate", "music-vae-folk", str(primers / "jig-a.mid"),
                       str(primers / "jig-b.mid"), "--steps", "5", "--plot", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert len(list(tmp_path.glob("interpolation-*.mid"))) == 6 and len(list(tmp_path.glob("*.png"))) == 6
    codec = api.open_model("music-vae-folk").codec
    for primer, end in (("jig-a.mid", 1), ("jig-b.mid", 5)):
        original, _ = codec.first_phrase(read_midi(primers / primer))
        made, _ = codec.first_phrase(read_midi(tmp_path / f"interpolation-{end}.mid"))
        assert np.mean(original == made) >= 0.75, primer  # most steps of each jig come back
    joined = read_midi(tmp_path / "interpolation-all.mid")
    assert joined.time_signature == (6, 8) and abs(joined.beats - 5 * 6) <= 3  # five 2-bar phrases of 6/8


def test_bundled_gansynth_plays_in_tune(tmp_path):
    """The demo's GANSynth: small, trained by the recorded command, and its notes are at the pitch
    asked for (pyin) at A4 and C4; a MIDI file played through it comes out as long as the tune."""
    import numpy as np
    import soundfile

    from tunesmith.audio_stats import cents_off, f0_track

    run = runs.open_run("gansynth-notes")
    assert (run / "TRAINED.md").read_text().count("tunesmith train gansynth") == 1
    assert (runs.find_checkpoint(run)["path"] / runs.WEIGHTS).stat().st_size < 8_000_000
    for pitch in (60, 69):
        done = run_command(*TUNESMITH, "sample", "gansynth-notes", "--pitch", str(pitch), "--num-outputs", "3",
                           "--seed", "1", "--out", str(tmp_path / f"at-{pitch}/"))
        assert done.returncode == 0, done.stderr
        errors = []
        for path in sorted((tmp_path / f"at-{pitch}").iterdir()):
            samples, rate = soundfile.read(path)
            f0, voiced = f0_track(samples, pitch, rate)
            errors.append(abs(float(cents_off(np.nanmedian(f0[voiced]), pitch))) if voiced.any() else 1200.0)
        assert rate == 8000 and np.median(errors) <= 50, (pitch, errors)
    folk = str(runs.PRETRAINED_DIR.parent / "primers" / "folk.mid")
    done = run_command(*TUNESMITH, "render", folk, "--instrument", "gansynth-notes",
                       "--out", str(tmp_path / "song/"))
    assert done.returncode == 0, done.stderr
    song, rate = soundfile.read(tmp_path / "song" / "folk.wav")
    assert len(song) / rate > 5 and 0.001 < np.sqrt(np.mean(song ** 2)) < 0.9
