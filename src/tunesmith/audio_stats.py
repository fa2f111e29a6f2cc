"""Statistics of generated audio clips next to the same statistics of training audio, for raw-audio
runs (WaveNet, SampleRNN): level, DC offset, silence, brightness, and a detector for the classic
failure of sample-level models, a clip stuck repeating itself. The audio counterpart of
`music_stats`; compare() and format_table() give results of the same shape."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tunesmith.music_stats import json_float, overlap_table, overlapping_area, summary

# A 50 ms frame whose RMS is at or below this (linear, full scale 1) is silent: the corpus trimming's
# default silence_threshold (corpus.audio.trim_silence), so "silent" means the same in both places.
SILENCE_THRESHOLD = 0.01
SILENCE_FRAME_SECONDS = 0.05
RMS_FLOOR_DB = -120.0              # the level reported for digital silence
CENTROID_FRAME = 2048              # spectral-centroid frames (samples, Hann window) ...
CENTROID_HOP = 512                 # ... and their hop
LOOP_THRESHOLD = 0.5               # loop_score above this: looping
LOOP_MIN_LAG_SECONDS = 0.5         # the shortest repetition period looked at ...
LOOP_MIN_LAG_SHARE = 1 / 8         # ... or this share of the clip, whichever is longer
LOOP_BLOCKS = 8                    # the clip's second half is judged in this many blocks ...
LOOP_QUANTILE = 0.25               # ... of which about 3 in 4 must repeat (this quantile over blocks)
LOOP_QUIET_RMS = 1e-4              # blocks quieter than this (-80 dBFS) count as not repeating
WHINE_HZ = 4000.0                  # the whine check: the share of energy above this frequency
FRECHET_MELS = 40                  # the Frechet distance's log-mel frames: this many mel bands ...
FRECHET_FFT, FRECHET_HOP = 1024, 256  # ... of frames this long (samples), this far apart

# The per-clip statistics compare() reports, in table order, with what each one measures.
STATISTICS = {
    "rms_db": "RMS level (dBFS)",
    "dc_offset": "DC offset",
    "silence_share": "silent 50 ms frames (share)",
    "spectral_centroid_hz": "spectral centroid (Hz)",
    "high_frequency_share": f"energy above {WHINE_HZ / 1000:g} kHz (share)",
    "loop_score": "loop score (0-1)",
    "looping": f"looping clips (score > {LOOP_THRESHOLD:g})",
}
SCALAR_STATISTICS = tuple(name for name in STATISTICS if name != "looping")
_FORMATS = {"rms_db": "{:.1f}", "dc_offset": "{:.2g}", "silence_share": "{:.3f}",
            "spectral_centroid_hz": "{:.0f}", "loop_score": "{:.2f}",
            "high_frequency_share": "{:.3f}"}


def _mono(samples: np.ndarray) -> np.ndarray:
    samples = np.asarray(samples)
    if samples.ndim != 1:
        raise ValueError(f"audio statistics need mono samples (one dimension), got shape {samples.shape}")
    return samples.astype(np.float64)


def rms_db(samples: np.ndarray) -> float:
    """The RMS level in dBFS, 20 log10(rms) (a full-scale sine is -3 dB), at least RMS_FLOOR_DB."""
    x = _mono(samples)
    if not len(x):
        return math.nan
    rms = math.sqrt(float(np.mean(x * x)))
    return max(RMS_FLOOR_DB, 20 * math.log10(rms)) if rms > 0 else RMS_FLOOR_DB


def silence_share(samples: np.ndarray, sample_rate: int, threshold: float = SILENCE_THRESHOLD) -> float:
    """The share of the clip's time in silent frames: non-overlapping 50 ms frames whose RMS is at
    or below `threshold`. A last, shorter frame counts for its own length."""
    x = _mono(samples)
    if not len(x):
        return math.nan
    frame = max(1, int(round(SILENCE_FRAME_SECONDS * sample_rate)))
    whole = len(x) // frame * frame
    squares = [np.mean(x[:whole].reshape(-1, frame) ** 2, axis=1)] if whole else []
    lengths = [np.full(whole // frame, frame)] if whole else []
    if whole < len(x):
        squares.append(np.array([np.mean(x[whole:] ** 2)]))
        lengths.append(np.array([len(x) - whole]))
    silent = np.sqrt(np.concatenate(squares)) <= threshold
    return float(np.concatenate(lengths)[silent].sum() / len(x))


def _spectra(x: np.ndarray, frame: int, hop: int, chunk: int = 512):
    """Magnitude spectra [frames, frame // 2 + 1] of Hann-windowed frames of x (its end zero-padded
    to fill the last frame), `chunk` frames at a time."""
    frames = 1 + -(-max(len(x) - frame, 0) // hop)
    x = np.pad(x, (0, (frames - 1) * hop + frame - len(x)))
    window = np.hanning(frame)
    windows = np.lib.stride_tricks.sliding_window_view(x, frame)[::hop]
    for i in range(0, frames, chunk):
        yield np.abs(np.fft.rfft(windows[i:i + chunk] * window, axis=1))


def spectral_centroid(samples: np.ndarray, sample_rate: int, frame: int = CENTROID_FRAME,
                      hop: int = CENTROID_HOP) -> float:
    """The clip's spectral centroid in Hz: per Hann-windowed frame, the magnitude-weighted mean
    frequency of its spectrum; over frames, their mean weighted by frame energy, so that quiet
    frames (and the noise floor of silences) barely count. The clip's mean is removed first (DC is
    reported separately); the end is zero-padded to fill the last frame. 0 for a silent clip."""
    x = _mono(samples)
    if not len(x):
        return math.nan
    freqs = np.fft.rfftfreq(frame, 1.0 / sample_rate)
    weighted = total = 0.0
    for magnitude in _spectra(x - x.mean(), frame, hop):
        power = np.sum(magnitude ** 2, axis=1)
        amplitude = magnitude.sum(axis=1)
        centroids = np.divide(magnitude @ freqs, amplitude, out=np.zeros_like(amplitude), where=amplitude > 0)
        weighted += float(centroids @ power)
        total += float(power.sum())
    return weighted / total if total > 0 else 0.0


def high_frequency_share(samples: np.ndarray, sample_rate: int, cutoff: float = WHINE_HZ) -> float:
    """The share of the clip's energy above `cutoff` Hz (the whine check: a sample-level model gone
    wrong, or audio decimated without a filter, puts far more energy up there than music does);
    nan when the clip's band ends below the cutoff, 0 for a silent clip. DC removed first."""
    x = _mono(samples)
    if not len(x) or sample_rate / 2 <= cutoff:
        return math.nan
    above = np.fft.rfftfreq(CENTROID_FRAME, 1.0 / sample_rate) > cutoff
    high = total = 0.0
    for magnitude in _spectra(x - x.mean(), CENTROID_FRAME, CENTROID_HOP):
        power = magnitude ** 2
        high += float(power[:, above].sum())
        total += float(power.sum())
    return high / total if total > 0 else 0.0


def loop_profile(samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """The lags (in samples) loop_score looks at and, for each, the LOOP_QUANTILE over the blocks
    of the second half of their normalised correlation with the audio that lag earlier (see
    loop_score). Empty arrays when the clip is too short to hold a repetition of the shortest lag."""
    x = _mono(samples)
    n, half = len(x), len(x) // 2
    min_lag = max(1, int(round(max(LOOP_MIN_LAG_SECONDS * sample_rate, LOOP_MIN_LAG_SHARE * n))))
    block = (n - half) // LOOP_BLOCKS
    if min_lag > half or block < 1:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    raw = x - x.mean()
    emphasised = np.diff(raw, prepend=raw[0])  # first difference: no DC, drift or rumble; periods kept
    lags = np.arange(min_lag, half + 1)
    starts = n - block * np.arange(LOOP_BLOCKS, 0, -1)  # the blocks tile the end of the clip
    raw_energy = np.concatenate([[0.0], np.cumsum(raw * raw)])
    energy = np.concatenate([[0.0], np.cumsum(emphasised * emphasised)])
    span = half - min_lag + block            # the audio any lag of one block reaches back to
    size = 1 << int(math.ceil(math.log2(span + block)))
    correlations = np.zeros((LOOP_BLOCKS, len(lags)))
    for b, start in enumerate(starts):
        # dot[L] = sum_j e[start + j] e[start + j - L], for every lag at once by FFT correlation
        # of the block with the audio from start - half to start + block - min_lag.
        reach = emphasised[start - half:start - half + span]
        current = emphasised[start:start + block]
        full = np.fft.irfft(np.fft.rfft(reach, size) * np.conj(np.fft.rfft(current, size)), size)
        dots = full[half - lags]
        own = energy[start + block] - energy[start]
        earlier = energy[start + block - lags] - energy[start - lags]
        quiet = ((raw_energy[start + block] - raw_energy[start]) / block <= LOOP_QUIET_RMS ** 2) | \
                ((raw_energy[start + block - lags] - raw_energy[start - lags]) / block <= LOOP_QUIET_RMS ** 2)
        denominator = np.sqrt(np.maximum(own * earlier, 0.0))
        correlations[b] = np.where(quiet | (denominator <= 0), 0.0,
                                   dots / np.where(denominator > 0, denominator, 1.0))
    return lags, np.quantile(correlations, LOOP_QUANTILE, axis=0)


def loop_score(samples: np.ndarray, sample_rate: int) -> float:
    """How much the clip is stuck repeating itself, in [0, 1] (nan for a clip under twice the
    shortest lag, 1 s); clip_stats calls a clip `looping` when it is above LOOP_THRESHOLD.

    The question is whether the second half of the clip is, throughout, a copy of the audio some
    fixed lag L earlier, as when a sample-level model falls into a limit cycle: a buzz, or a short
    pattern tiled for seconds. The waveform is first differenced (a pre-emphasis that removes DC and
    slow drift and flattens the usual low-heavy spectrum, without changing any period). The second
    half is cut into LOOP_BLOCKS blocks; for each lag L from max(0.5 s, 1/8 of the clip) up to half
    the clip, each block's normalised correlation with the audio L earlier is computed (by FFT, for
    all lags at once; a block or its counterpart quieter than -80 dBFS counts 0), and the lag's
    score is the lower quartile over the blocks, so about three blocks in four must repeat: a chance
    coincidence in one or two blocks, such as a melody returning to a note, does not count. The
    loop score is the best lag's score, clipped at 0. For a copy plus independent noise it is about
    the repeated part's share of the energy, S / (S + N), so the threshold 0.5 says the repeated
    part is at least as loud as what differs.

    What it gives: an exactly or nearly tiled pattern, of any period up to half the clip, scores
    near 1 (a short period is found at a multiple of it within the lags); white noise, and music
    whose repeats are played rather than copied, near 0. A steady periodic tone (a sustained sine,
    a held synthesiser chord, a constant buzz) is exactly periodic, so it scores 1 and counts as
    looping, deliberately: several seconds of an unchanging tone is the buzz failure of
    sample-level models, and "stuck".

    Caveats: it needs sample-accurate repetition, so a loop that drifts in timing or pitch (not
    phase-coherent over the lag) scores low; music built from exact sample loops or long held
    electronic tones scores high, which is why compare() reports the same share for training audio;
    in a short clip, one note held through most of its second half looks like a steady tone; a
    period over half the clip cannot be seen. Silence counts as not repeating (see silence_share)."""
    _, profile = loop_profile(samples, sample_rate)
    if not len(profile):
        return math.nan
    return float(np.clip(profile.max(), 0.0, 1.0))


def clip_stats(samples: np.ndarray, sample_rate: int) -> dict[str, float | bool]:
    """The statistics of one mono clip (float samples in [-1, 1]): rms_db, dc_offset,
    silence_share, spectral_centroid_hz, high_frequency_share, loop_score and looping (a bool: loop_score above
    LOOP_THRESHOLD). Undefined values (an empty clip; loop_score of a clip under 1 s) are nan."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    x = _mono(samples)
    score = loop_score(x, sample_rate)
    return {
        "rms_db": rms_db(x),
        "dc_offset": float(x.mean()) if len(x) else math.nan,
        "silence_share": silence_share(x, sample_rate),
        "spectral_centroid_hz": spectral_centroid(x, sample_rate),
        "high_frequency_share": high_frequency_share(x, sample_rate),
        "loop_score": score,
        "looping": bool(score > LOOP_THRESHOLD),
    }


def reference_excerpts(waveforms: list[np.ndarray], sample_rate: int, seconds: float, count: int,
                       seed: int = 0) -> list[np.ndarray]:
    """`count` excerpts of `seconds` each cut from the training recordings, so that reference clips
    are as long as the generated ones (silence share, loop score and the rest depend on length).
    Each excerpt's start is drawn uniformly over every possible (recording, start) pair, so longer
    recordings give proportionally more; the same seed gives the same excerpts. Recordings shorter
    than an excerpt are skipped; if none is long enough, the excerpts are cut at the length of the
    longest recording instead. Excerpts are float32 copies."""
    if seconds <= 0:
        raise ValueError(f"excerpts need a positive length, got {seconds} s")
    waveforms = [np.asarray(w, dtype=np.float32).reshape(-1) for w in waveforms]
    waveforms = [w for w in waveforms if len(w)]
    if count <= 0 or not waveforms:
        return []
    length = min(max(1, int(round(seconds * sample_rate))), max(len(w) for w in waveforms))
    starts = np.array([len(w) - length + 1 if len(w) >= length else 0 for w in waveforms], dtype=np.int64)
    bounds = np.cumsum(starts)
    positions = np.random.default_rng(seed).integers(0, bounds[-1], size=count)
    excerpts = []
    for position in positions:
        index = int(np.searchsorted(bounds, position, side="right"))
        start = int(position - (bounds[index - 1] if index else 0))
        excerpts.append(waveforms[index][start:start + length].copy())
    return excerpts


def _share(flags: list[bool]) -> dict[str, Any]:
    """The share and number of looping clips among those long enough to judge."""
    return {"share": json_float(np.mean(flags)) if flags else None, "count": int(sum(flags)), "n": len(flags)}


def _overlap(generated: np.ndarray, reference: np.ndarray, bandwidth: str) -> float:
    """music_stats.overlapping_area of two sets of one statistic, their values first rounded to a
    thousandth of their pooled range: a set that differs only by rounding noise (two steady tones
    with loop scores 1 - 1e-15 and 1) then counts as constant and borrows the other set's bandwidth,
    instead of a kernel too narrow for the shared grid to resolve (which gave nan)."""
    pooled = np.concatenate([generated, reference])
    pooled = pooled[np.isfinite(pooled)]
    if len(pooled) and pooled.max() > pooled.min():
        step = (pooled.max() - pooled.min()) / 1000
        generated, reference = (np.round(v / step) * step for v in (generated, reference))
    return overlapping_area(generated, reference, bandwidth)


def compare(generated: list[np.ndarray], reference: list[np.ndarray], sample_rate: int,
            bandwidth: str = "silverman") -> dict[str, Any]:
    """Each statistic's mean and standard deviation over the generated clips and over the reference
    (training audio) clips, and, as music_stats.compare, the overlapping area of its two
    distributions (1 = indistinguishable, 0 = disjoint) and `mean_overlap`; for `looping`, the share
    and count of looping clips among those long enough to judge (its overlap is None).
    JSON-serialisable: undefined numbers are None."""
    stats = {"generated": [clip_stats(c, sample_rate) for c in generated],
             "reference": [clip_stats(c, sample_rate) for c in reference]}
    result: dict[str, Any] = {"clips": {side: len(s) for side, s in stats.items()}, "sample_rate": int(sample_rate),
                              "bandwidth": bandwidth, "statistics": {}}
    for name in SCALAR_STATISTICS:
        values = {side: np.array([s[name] for s in items], dtype=np.float64) for side, items in stats.items()}
        result["statistics"][name] = {
            **{side: summary(v) for side, v in values.items()},
            "overlap": json_float(_overlap(values["generated"], values["reference"], bandwidth)),
        }
    result["statistics"]["looping"] = {
        **{side: _share([s["looping"] for s in items if math.isfinite(s["loop_score"])])
           for side, items in stats.items()},
        "overlap": None,
    }
    overlaps = [s["overlap"] for s in result["statistics"].values() if s["overlap"] is not None]
    result["mean_overlap"] = json_float(np.mean(overlaps)) if overlaps else None
    result["frechet_log_mel"] = json_float(frechet_distance(log_mel_frames(generated, sample_rate),
                                                            log_mel_frames(reference, sample_rate)))
    return result


def log_mel_frames(clips: list[np.ndarray], sample_rate: int) -> np.ndarray:
    """[frames, FRECHET_MELS]: the log-mel frames of every clip (librosa; dB of power against full
    scale, floored at -100 dB, so level differences count), all clips' frames pooled."""
    import librosa

    rows = [np.zeros((0, FRECHET_MELS))]
    for clip in clips:
        x = np.asarray(clip, dtype=np.float32).reshape(-1)
        if len(x) >= FRECHET_FFT:
            mel = librosa.feature.melspectrogram(y=x, sr=sample_rate, n_fft=FRECHET_FFT, hop_length=FRECHET_HOP,
                                                 n_mels=FRECHET_MELS, center=False)
            rows.append(librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None).clip(min=-100.0).T)
    return np.concatenate(rows).astype(np.float64)


def frechet_distance(first: np.ndarray, second: np.ndarray) -> float:
    """The Frechet distance between Gaussians fitted to two sets of feature rows [n, d] (as FID and
    FAD compute it, here on log-mel frames, so no downloaded model is needed): |mu1 - mu2|^2 +
    Tr(S1 + S2 - 2 (S1 S2)^1/2). 0 for identical statistics; in dB^2 for log-mel frames. nan when
    either set has fewer than two rows."""
    if len(first) < 2 or len(second) < 2:
        return math.nan
    mu1, mu2 = first.mean(0), second.mean(0)
    s1, s2 = np.atleast_2d(np.cov(first, rowvar=False)), np.atleast_2d(np.cov(second, rowvar=False))
    # Tr (S1 S2)^1/2 = the sum of the square roots of the eigenvalues of S1^1/2 S2 S1^1/2, which is
    # symmetric: eigh is stable where a general matrix square root of S1 S2 is not
    values, vectors = np.linalg.eigh(s1)
    root1 = (vectors * np.sqrt(values.clip(min=0.0))) @ vectors.T
    trace_root = float(np.sqrt(np.linalg.eigvalsh(root1 @ s2 @ root1).clip(min=0.0)).sum())
    distance = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * trace_root)
    return max(distance, 0.0)


def _cell(name: str, summary: dict[str, Any]) -> str:
    if "share" in summary:
        return "-" if summary["share"] is None else f"{100 * summary['share']:.0f}% ({summary['count']}/{summary['n']})"
    if summary["mean"] is None:
        return "-"
    form = _FORMATS.get(name, "{:.3g}")
    return f"{form.format(summary['mean'])} ± {form.format(summary['std'])}"


def format_table(result: dict[str, Any]) -> str:
    """compare()'s result as a plain-text table: statistic, generated, training audio, overlap."""
    lines = overlap_table(result, STATISTICS, _cell, f"generated ({result['clips']['generated']})",
                          f"training audio ({result['clips']['reference']})")
    frechet = result.get("frechet_log_mel")
    if frechet is not None:
        lines.append(f"Frechet distance of log-mel frames, generated to training audio: {frechet:.1f} dB^2 (0: alike)")
    return "\n".join(lines)


# -- the pitch of a note ----------------------------------------------------------------------------

PITCH_CENTS = 50       # a note (or a frame) is at its pitch when its f0 is this close
PITCH_SEARCH = 7       # semitones either side of the pitch asked for that pyin searches


def f0_track(wave: np.ndarray, pitch: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(f0 in Hz [frames], voiced [frames]) of a note meant to be at a MIDI pitch, by librosa's pyin
    (no downloaded weights) in frames of about 128 ms, searching PITCH_SEARCH semitones either side
    of the pitch: with an octave either side, pyin put decaying 8-kHz sawtooths an octave low (at
    56, 60, 80 and 84 of the pitches 36, 40, ... 96) and a fifth of the corpus's own notes too; with
    a fifth, none. (max_transition_rate 20 octaves a second: pyin's default needs a wider range.)"""
    import librosa

    frame = min(1 << int(np.log2(len(wave))), 1 << round(np.log2(0.128 * sample_rate)))
    f0, voiced, _ = librosa.pyin(np.asarray(wave, dtype=np.float32),
                                 fmin=librosa.midi_to_hz(max(pitch - PITCH_SEARCH, 12)),
                                 fmax=min(librosa.midi_to_hz(pitch + PITCH_SEARCH), sample_rate / 2 - 1),
                                 sr=sample_rate, frame_length=frame, n_thresholds=50, max_transition_rate=20)
    return f0, voiced


def cents_off(hz: np.ndarray | float, pitch: int) -> np.ndarray | float:
    """How far frequencies lie from a MIDI pitch, in cents (negative: flat)."""
    return 1200 * np.log2(np.asarray(hz) / (440.0 * 2 ** ((pitch - 69) / 12)))


# -- the number of statistically different bins (NDB) ---------------------------------------------

NDB_BINS = 50          # k: the Voronoi cells of k-means (Richardson & Weiss 2018; GANSynth's k = 50)
NDB_ALPHA_Z = 1.96     # a cell differs when its two-proportion z exceeds this (p < 0.05, two-sided)
NDB_MELS = 32          # log-mel features of a note: this many mel bands ...
NDB_SEGMENTS = 8       # ... each averaged over this many equal stretches of time


def log_mel_features(waves: list[np.ndarray] | np.ndarray, sample_rate: int) -> np.ndarray:
    """[notes, NDB_MELS * NDB_SEGMENTS]: each note's log-mel spectrogram (librosa, dB with an 80 dB
    floor under the loudest), its frames averaged over NDB_SEGMENTS stretches, as one vector. All
    notes must be of one length."""
    import librosa

    rows = []
    for wave in waves:
        mel = librosa.feature.melspectrogram(y=np.asarray(wave, dtype=np.float32), sr=sample_rate, n_fft=512,
                                             hop_length=128, n_mels=NDB_MELS)
        log_mel = librosa.power_to_db(mel, ref=np.max, top_db=80.0)
        rows.append(np.stack([part.mean(1) for part in np.array_split(log_mel, NDB_SEGMENTS, axis=1)], 1).ravel())
    return np.asarray(rows, dtype=np.float64)


def ndb(training: np.ndarray, others: np.ndarray, bins: int = NDB_BINS, seed: int = 0) -> dict[str, Any]:
    """The number of statistically different bins (Richardson & Weiss 2018, as GANSynth reports it):
    the training features [n, d] clustered by k-means into `bins` cells, the other features (of
    generated or held-out notes) put in the nearest cell, and a two-proportion z-test per cell on
    the share of each set in it. Returns the count of cells that differ (0 = alike) and its share
    of the bins (NDB/k). Fewer training notes than bins: None."""
    from scipy.cluster.vq import kmeans2, vq

    if len(training) < bins or not len(others):
        return {"bins": bins, "different": None, "share": None}
    mean, spread = training.mean(0), training.std(0) + 1e-8
    centroids, labels = kmeans2((training - mean) / spread, bins, minit="++", seed=seed)
    others_labels, _ = vq((others - mean) / spread, centroids)
    n_train, n_other = len(training), len(others)
    p_train = np.bincount(labels, minlength=bins) / n_train
    p_other = np.bincount(others_labels, minlength=bins) / n_other
    pooled = (p_train * n_train + p_other * n_other) / (n_train + n_other)
    error = np.sqrt(pooled * (1 - pooled) * (1 / n_train + 1 / n_other))
    z = np.divide(np.abs(p_train - p_other), error, out=np.zeros(bins), where=error > 0)
    different = int((z > NDB_ALPHA_Z).sum())
    return {"bins": bins, "different": different, "share": different / bins}
