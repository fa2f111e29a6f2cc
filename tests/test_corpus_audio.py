"""Audio corpora as a user meets them: recordings made with numpy and written as wav/flac/ogg, read
into clean mono waveforms; a folder with bad files in it, a bad file alone, and no ffmpeg installed;
the prepared-audio cache; the bundled chorales-audio corpus rendered from a few tiny MIDI files."""

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tunesmith.corpus import audio
from tunesmith.media import audio as media_audio
from tunesmith.corpus.audio import (list_bundled_audio, normalize, prepare_audio, read_audio_corpus, remove_dc,
                                    trim_silence)
from tunesmith.media.audio import decode_audio, resample, to_mono
from tunesmith.errors import UserError
from tunesmith.notes import Piece, make_notes, write_midi


def sine(seconds: float, rate: int, hz: float = 440.0, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * hz * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[spectrum.argmax()])


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch) -> Path:
    """Each test prepares into a fresh cache of its own, never the user's."""
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    folder = tmp_path / "recordings"
    folder.mkdir()
    left, right = sine(1.0, 44100), sine(1.0, 44100, hz=660)
    soundfile.write(folder / "stereo.wav", np.stack([left, right], axis=1), 44100, subtype="PCM_16")
    soundfile.write(folder / "song.flac", sine(0.5, 22050), 22050)
    soundfile.write(folder / "song.ogg", sine(0.5, 16000), 16000)
    soundfile.write(folder / "silent.wav", np.zeros(16000, dtype=np.float32), 16000)
    (folder / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVE this is not audio")
    (folder / "empty.flac").write_bytes(b"")
    (folder / "notes.txt").write_text("not audio")
    return folder


def test_resampling_keeps_frequency_and_length():
    tone = sine(1.0, 44100)
    out = resample(tone, 44100, 16000)
    assert out.dtype == np.float32 and abs(len(out) - 16000) <= 2
    assert abs(peak_hz(out, 16000) - 440) < 1
    assert np.array_equal(resample(tone, 44100, 44100), tone)


def test_stereo_wav_is_decoded_downmixed_and_resampled(recordings):
    samples, rate = decode_audio(recordings / "stereo.wav")
    assert samples.shape == (44100, 2) and samples.dtype == np.float32 and rate == 44100
    mono = to_mono(samples)
    assert mono.shape == (44100,) and np.allclose(mono, samples.mean(axis=1))
    prepared = prepare_audio(recordings / "stereo.wav", sample_rate=16000)
    assert prepared.dtype == np.float32 and prepared.ndim == 1 and abs(len(prepared) - 16000) <= 2


def test_dc_offset_is_removed(tmp_path):  # the Dadabots bug: a +0.3 offset survived into training
    path = tmp_path / "offset.wav"
    soundfile.write(path, sine(1.0, 16000, amplitude=0.4) + 0.3, 16000, subtype="FLOAT")
    prepared = prepare_audio(path)
    assert abs(prepared.mean()) < 1e-3
    assert abs(remove_dc(np.full(10, 0.3, dtype=np.float32))).max() < 1e-6


def test_normalization_peaks_at_095_without_clipping():
    loud = np.array([0.0, 3.0, -4.0, 1.0], dtype=np.float32)
    assert np.allclose(normalize(loud), [0.0, 0.7125, -0.95, 0.2375])
    quiet = sine(0.1, 16000, amplitude=0.01)
    assert abs(np.abs(normalize(quiet)).max() - 0.95) < 1e-6
    assert np.allclose(normalize(quiet), quiet * (0.95 / np.abs(quiet).max()), rtol=1e-5, atol=1e-7)  # scaled
    clipping = np.array([0.5, 1.8, -2.5, 2.4], dtype=np.float32)  # beyond full scale: scaled down, not clipped
    assert np.allclose(normalize(clipping), clipping * 0.38) and np.abs(normalize(clipping)).max() <= 0.95 + 1e-7
    silence = np.zeros(100, dtype=np.float32)
    assert not normalize(silence).any()
    with pytest.raises(UserError):
        normalize(loud, peak=1.5)


def test_edge_silence_is_trimmed_and_threshold_zero_keeps_all():
    tone = sine(0.5, 16000)
    padded = np.concatenate([np.zeros(4096), tone, np.zeros(8192)]).astype(np.float32)
    trimmed = trim_silence(padded, 0.01, frame=512)
    assert len(trimmed) == len(tone) + (-len(tone) % 512)  # whole frames: the partial tail frame stays
    assert np.array_equal(trimmed[: len(tone)], tone)
    assert len(trim_silence(padded, 0.0)) == len(padded)
    assert len(trim_silence(np.zeros(2000, dtype=np.float32), 0.01)) == 0
    inner = np.concatenate([tone, np.zeros(4096), tone]).astype(np.float32)
    assert len(trim_silence(inner, 0.01)) == len(inner)  # silence inside is music (a rest)


def test_a_folder_skips_bad_files_by_name(recordings, capsys):
    docs = read_audio_corpus(str(recordings), sample_rate=16000)
    err = capsys.readouterr().err
    assert [d.name for d in docs] == ["song.flac", "song.ogg", "stereo.wav"]
    for doc in docs:
        assert doc.content.dtype == np.float32 and doc.content.ndim == 1
        assert abs(np.abs(doc.content).max() - 0.95) < 1e-4
    assert abs(len(docs[0].content) - 8000) <= 2 and len(docs[1].content) == 8000
    assert abs(peak_hz(docs[0].content, 16000) - 440) < 2
    for bad, why in [("corrupt.wav", "is not a readable audio file"), ("empty.flac", "is empty"),
                     ("silent.wav", "is silent")]:
        assert f"{recordings / bad} {why}" in err
    assert "read 3 audio files" in err and "skipped 3" in err and "notes.txt" not in err


@pytest.mark.parametrize("bad", ["corrupt.wav", "empty.flac", "silent.wav"])
def test_a_bad_file_given_alone_is_a_one_line_error(recordings, bad):
    with pytest.raises(UserError, match=bad) as err:
        read_audio_corpus(str(recordings / bad))
    assert "\n" not in str(err.value) and ".wav/.flac" in str(err.value)


def test_a_missing_ffmpeg_is_named_with_the_fix(tmp_path, monkeypatch):
    track = tmp_path / "track.m4a"
    track.write_bytes(b"\x00\x00\x00\x20ftypM4A not really aac")
    monkeypatch.setattr(media_audio.shutil, "which", lambda name: None)
    with pytest.raises(UserError) as err:
        read_audio_corpus(str(track))
    message = str(err.value)
    assert "track.m4a" in message and "ffmpeg" in message and "apt-get install ffmpeg" in message
    assert "make install" in message and "\n" not in message


def test_ffmpeg_decodes_what_soundfile_cannot(tmp_path, monkeypatch):
    track = tmp_path / "track.m4a"
    track.write_bytes(b"\x00\x00\x00\x20ftypM4A not really aac")
    stereo = np.stack([sine(0.5, 48000), sine(0.5, 48000, hz=660)], axis=1)
    calls = []

    def fake_run(command, **kwargs):
        calls.append(command[0])
        out = "48000,2\n" if command[0] == "ffprobe" else stereo.astype("<f4").tobytes()
        return subprocess.CompletedProcess(command, 0, out, b"" if command[0] == "ffmpeg" else "")

    monkeypatch.setattr(media_audio.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(media_audio.subprocess, "run", fake_run)
    samples, rate = decode_audio(track)
    assert calls == ["ffprobe", "ffmpeg"] and rate == 48000 and np.array_equal(samples, stereo)
    assert abs(len(prepare_audio(track)) - 8000) <= 2


# -- the prepared-audio cache ----------------------------------------------------------------------


@pytest.fixture
def decodes(monkeypatch) -> list[str]:
    """The names of the files the decoder is asked to open, in order."""
    opened = []

    def counting_decode(path):
        opened.append(Path(path).name)
        return decode_audio(path)

    monkeypatch.setattr(audio, "decode_audio", counting_decode)
    return opened


def test_a_folder_read_again_comes_from_the_cache(recordings, own_cache, decodes, capsys):
    first = read_audio_corpus(str(recordings))
    assert sorted(decodes) == ["corrupt.wav", "empty.flac", "silent.wav", "song.flac", "song.ogg", "stereo.wav"]
    assert len(list((own_cache / "audio").glob("*.npy"))) == 3  # the skipped files are not cached as good
    capsys.readouterr()
    decodes.clear()
    again = read_audio_corpus(str(recordings))
    err = capsys.readouterr().err
    assert sorted(decodes) == ["corrupt.wav", "empty.flac", "silent.wav"]  # only the bad ones are tried again
    assert [d.name for d in again] == [d.name for d in first]
    assert all(np.array_equal(a.content, b.content) for a, b in zip(first, again))
    assert "3 of 3 recordings from the prepared-audio cache" in err and "skipped 3" in err


def test_a_renamed_file_hits_and_other_settings_miss(recordings, own_cache, decodes):
    read_audio_corpus(str(recordings / "stereo.wav"))
    (recordings / "stereo.wav").rename(recordings / "moved.wav")
    decodes.clear()
    assert read_audio_corpus(str(recordings / "moved.wav"))[0].name == "moved.wav" and decodes == []
    read_audio_corpus(str(recordings / "moved.wav"), sample_rate=8000)
    read_audio_corpus(str(recordings / "moved.wav"), silence_threshold=0.0)
    assert decodes == ["moved.wav", "moved.wav"]  # a new sample rate or threshold is prepared anew
    assert len(list((own_cache / "audio").glob("*.npy"))) == 3
    (recordings / "moved.wav").write_bytes((recordings / "song.flac").read_bytes())  # new content, same name
    decodes.clear()
    assert abs(len(read_audio_corpus(str(recordings / "moved.wav"))[0].content) - 8000) <= 2
    assert decodes == ["moved.wav"]


def test_a_new_file_in_the_folder_is_the_only_one_prepared(recordings, decodes):
    read_audio_corpus(str(recordings))
    soundfile.write(recordings / "new.wav", sine(0.5, 16000, hz=330), 16000)
    decodes.clear()
    docs = read_audio_corpus(str(recordings))
    assert "new.wav" in [d.name for d in docs]
    assert sorted(decodes) == ["corrupt.wav", "empty.flac", "new.wav", "silent.wav"]


def test_an_unwritable_cache_is_warned_about_once(recordings, tmp_path, monkeypatch, decodes, capsys):
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "a-file" / "cache"))
    warnings = ""
    for _ in range(2):
        docs = read_audio_corpus(str(recordings))
        warnings += capsys.readouterr().err
        assert len(docs) == 3
    assert warnings.count("cannot write the prepared-audio cache") == 1  # said once, not at every read
    assert decodes.count("stereo.wav") == 2  # without a cache, each read prepares again


def test_reading_shows_files_and_hours(recordings, capsys):
    docs = read_audio_corpus(str(recordings))
    err = capsys.readouterr().err
    seconds = sum(len(d.content) for d in docs) / 16000
    assert "reading audio" in err and "/6 [" in err and "h of audio]" in err  # the bar: files and hours so far
    assert f"{seconds / 3600:.2f} hours of audio at 16000 Hz" in err


# -- the bundled chorales-audio corpus -------------------------------------------------------------


@pytest.fixture
def tiny_chorales(tmp_path: Path, monkeypatch) -> list[str]:
    """Three tiny 'chorales' in place of the bundled ones (converting those from music21 takes 40 s);
    AUDIO_CHORALES = 2 renders the first two in name order. Returns the names of the bundled MIDI
    corpora asked for."""
    folder = tmp_path / "chorales-midi"
    folder.mkdir()
    for name, pitch in (("b.mid", 67), ("a.mid", 60), ("c.mid", 72)):
        write_midi(Piece(make_notes([(0, 2, pitch, 90, 52), (2, 4, pitch - 12, 90, 19)]), qpm=120), folder / name)
    asked = []
    monkeypatch.setattr(audio, "bundled_midi_folder", lambda name: asked.append(name) or folder)
    monkeypatch.setattr(audio, "AUDIO_CHORALES", 2)
    monkeypatch.chdir(tmp_path)  # "chorales-audio" is no path here, so it names the bundled corpus
    return asked


def test_chorales_audio_is_rendered_once_and_read(tiny_chorales, own_cache, monkeypatch):
    assert list_bundled_audio()[0]["minutes"] == "rendered on first use"  # listing renders nothing
    assert not (own_cache / "corpora").exists()
    docs = read_audio_corpus("chorales-audio")
    assert [d.name for d in docs] == ["a.flac", "b.flac"]
    for doc in docs:
        assert doc.content.dtype == np.float32 and 1.5 * 16000 < len(doc.content) < 5 * 16000
        assert np.sqrt(np.mean(doc.content ** 2)) > 0.05  # music, not silence
    folder = own_cache / "corpora" / f"chorales-audio-v{audio.BUNDLED_AUDIO_VERSION}"
    assert sorted(p.name for p in folder.iterdir()) == ["a.flac", "b.flac"]
    assert soundfile.info(folder / "a.flac").samplerate == 16000
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no half-built folder left behind

    def no_second_rendering(*args):
        raise AssertionError("rendered again")

    monkeypatch.setattr(audio, "render_midi", no_second_rendering)
    assert len(read_audio_corpus("chorales-audio")) == 2 and tiny_chorales == ["chorales"]
    row = list_bundled_audio()[0]
    assert row["name"] == "chorales-audio" and row["files"] == 2 and 0 < row["minutes"] < 0.2


def test_chorales_audio_without_fluidsynth_fails_before_converting(tiny_chorales, own_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no fluidsynth on this PATH
    with pytest.raises(UserError, match="FluidSynth is not installed.*make install"):
        read_audio_corpus("chorales-audio")
    assert tiny_chorales == [] and not (own_cache / "corpora").exists()


def test_an_unknown_name_lists_the_bundled_audio_corpora(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="no such audio file or folder: album.*chorales-audio"):
        read_audio_corpus("album")
