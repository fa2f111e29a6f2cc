"""Training windows: the batch of any step is a pure function of (seed, step), so that the data
position of any step can be recomputed from the step alone (exact resume).

* `TokenWindows`: one token stream (text, MIDI), non-overlapping windows in a seeded order per epoch.
* `ChunkWindows`: fixed-length chunks of quantized audio (8 s by default, overlapping), read either
  as random windows (WaveNet) or from start to end in consecutive windows whose model state is
  carried from one to the next (SampleRNN's truncated backpropagation through time).

Both give the trainer `batch(step, ...)`, `fresh(step)` (whether a carried state starts anew),
`steps_per_epoch(global_batch)` and `sequential(max_tokens, batch_size)` for validation, which yields
(batch, fresh) pairs."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tunesmith.codecs.base import Codec
from tunesmith.errors import UserError, info

TOKEN_CACHE_VERSION = 1  # raise when the token cache's key or file format changes


def encode_items(codec: Any, items: list[Any]) -> torch.Tensor:
    """One token stream of every item, one after the other, by the codec's `encode_all` (the
    performance codec's encodes them all in one vectorized pass). A stream of music is kept in the
    token cache, CACHE/tokens/SHA1-vN.npy under the sha1 of all it depends on (`token_cache_key`),
    so a second training run on the same pieces with the same codec encodes nothing."""
    from tunesmith.corpus.bundled import cache_subfolder, write_cached
    from tunesmith.notes import Piece

    music = bool(items) and all(isinstance(item, Piece) for item in items)
    folder = cache_subfolder("tokens", "token cache") if music else None
    kept = folder / f"{token_cache_key(codec, items)}-v{TOKEN_CACHE_VERSION}.npy" if folder else None
    if kept is not None and kept.is_file():
        try:
            return torch.from_numpy(np.load(kept, allow_pickle=False).astype(np.int64))
        except (OSError, ValueError, EOFError):  # a damaged file is encoded again and replaced
            pass
    tokens = np.asarray(codec.encode_all(items), dtype=np.int64)
    if kept is not None:
        buffer = io.BytesIO()
        small = not len(tokens) or -2**15 <= tokens.min() and tokens.max() < 2**15  # (read back as any int)
        np.save(buffer, tokens.astype(np.int16 if small else np.int32), allow_pickle=False)
        write_cached(kept, buffer.getvalue(), "token cache")
    return torch.from_numpy(tokens)


def token_cache_key(codec: Any, pieces: list[Any]) -> str:
    """The sha1 of what a stream of encoded pieces depends on: the codec's settings, the code that
    encodes (`encoding_code`), and every piece's notes, then every piece's note count, tempo, metre
    and style (in one update: one per piece costs more than hashing the notes)."""
    digest = hashlib.sha1(f"{encoding_code()} {json.dumps(codec.to_dict(), sort_keys=True)}".encode())
    for piece in pieces:
        digest.update(np.ascontiguousarray(piece.notes).data)
    digest.update(repr([(len(piece.notes), piece.qpm, piece.time_signature, piece.style) for piece in pieces]).encode())
    return digest.hexdigest()


@lru_cache(maxsize=None)
def encoding_code() -> str:
    """The sha1 of tunesmith's codecs and notes.py and the versions of the libraries they encode
    with, so that a changed codec never reads a stale stream from the cache."""
    import tunesmith.codecs
    import tunesmith.notes

    digest = hashlib.sha1(" ".join(metadata.version(name) for name in ("numpy", "symusic", "miditok")).encode())
    for source in sorted(Path(tunesmith.codecs.__file__).parent.glob("*.py")) + [Path(tunesmith.notes.__file__)]:
        digest.update(source.read_bytes())
    return digest.hexdigest()


class TokenWindows:
    """Non-overlapping windows of seq_len + 1 tokens over one token stream; each epoch starts at a
    random offset and visits the windows in a random order."""

    def __init__(self, tokens: torch.Tensor, seq_len: int):
        self.tokens = tokens
        self.seq_len = seq_len
        self.count = (len(tokens) - 1) // seq_len

    def steps_per_epoch(self, global_batch: int) -> int:
        return max(1, self.count // global_batch)

    def describe(self, codec: Codec) -> str:
        return f"{len(self.tokens):,} tokens"

    def _order(self, seed: int, epoch: int) -> tuple[int, torch.Tensor]:
        generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        slack = len(self.tokens) - 1 - self.count * self.seq_len
        offset = int(torch.randint(slack + 1, (1,), generator=generator))
        return offset, torch.randperm(self.count, generator=generator)

    def batch(self, step: int, batch_size: int, seed: int, rank: int = 0,
              world_size: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets) [batch_size, seq_len] of this rank for a global step."""
        global_batch = batch_size * world_size
        epoch, position = divmod(step, self.steps_per_epoch(global_batch))
        offset, order = self._order(seed, epoch)
        first = position * global_batch + rank * batch_size
        picks = order[torch.arange(first, first + batch_size) % self.count]
        starts = offset + picks * self.seq_len
        rows = torch.stack([self.tokens[s : s + self.seq_len + 1] for s in starts.tolist()])
        return rows[:, :-1], rows[:, 1:]

    def fresh(self, step: int) -> bool:
        return True

    def sequential(self, max_tokens: int, batch_size: int):
        """Validation batches: consecutive windows from the start, at most max_tokens targets."""
        length = min(len(self.tokens), max_tokens + 1)
        seq_len = min(self.seq_len, length - 1)
        starts = list(range(0, length - 1 - seq_len + 1, seq_len))
        for i in range(0, len(starts), batch_size):
            rows = torch.stack([self.tokens[s : s + seq_len + 1] for s in starts[i : i + batch_size]])
            yield (rows[:, :-1], rows[:, 1:]), True


class ChunkWindows:
    """Chunks of one quantized audio stream: chunk k is stream[starts[k] : starts[k] + chunk_len]
    (chunks may overlap), with the style id styles[k] when the model is conditioned on one.

    Without `lookback`, a batch row is a window of seq_len + 1 samples at a seeded random place in a
    random chunk (WaveNet). With `lookback` L (SampleRNN's top frame size), chunks are read from
    start to end: window w of a chunk covers its samples [w * hop, w * hop + seq_len + 1) with
    hop = seq_len + 1 - L, so each window repeats the last L samples of the one before as history,
    and the model's state is carried across the windows of one chunk. A step's rows are B chunks
    of a seeded order per epoch; they stay the same for the chunk's windows_per_chunk steps."""

    def __init__(self, stream: torch.Tensor, starts: torch.Tensor, chunk_len: int, seq_len: int,
                 styles: torch.Tensor | None = None, lookback: int | None = None):
        if chunk_len < seq_len + 1:
            raise ValueError(f"a chunk of {chunk_len} samples cannot hold a window of {seq_len + 1}")
        self.stream, self.starts, self.styles = stream, starts, styles
        self.chunk_len, self.seq_len, self.count = chunk_len, seq_len, len(starts)
        self.carry = lookback is not None
        self.hop = seq_len + 1 - lookback if self.carry else seq_len
        if self.hop < 1:
            raise ValueError(f"seq_len {seq_len} leaves no sample to predict after a look-back of {lookback}")
        self.windows_per_chunk = (chunk_len - seq_len - 1) // self.hop + 1

    def describe(self, codec: Codec) -> str:
        """Chunks and hours of audio, or tokens in chunks of a token stream (`piece_chunks`)."""
        if hasattr(codec, "sample_rate"):
            hours = self.count * self.chunk_len / codec.sample_rate / 3600
            return f"{self.count:,} chunks ({hours:.2f} h)"
        return f"{len(self.stream):,} tokens in {self.count:,} chunks of {self.chunk_len - 1:,}"

    def steps_per_epoch(self, global_batch: int) -> int:
        if self.carry:
            return max(1, self.count // global_batch) * self.windows_per_chunk
        return max(1, self.count * self.windows_per_chunk // global_batch)

    def fresh(self, step: int) -> bool:
        return not self.carry or step % self.windows_per_chunk == 0

    def _rows(self, rows: torch.Tensor, offsets: torch.Tensor) -> tuple[torch.Tensor, ...]:
        index = (self.starts[rows] + offsets)[:, None] + torch.arange(self.seq_len + 1)
        windows = self.stream[index].long()
        batch = (windows[:, :-1], windows[:, 1:])
        return batch + (self.styles[rows],) if self.styles is not None else batch

    def batch(self, step: int, batch_size: int, seed: int, rank: int = 0,
              world_size: int = 1) -> tuple[torch.Tensor, ...]:
        """(inputs, targets[, style ids]) of this rank for a global step."""
        global_batch = batch_size * world_size
        mine = torch.arange(rank * batch_size, (rank + 1) * batch_size)
        if not self.carry:
            generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
            rows = torch.randint(self.count, (global_batch,), generator=generator)[mine]
            offsets = torch.randint(self.chunk_len - self.seq_len, (global_batch,), generator=generator)[mine]
            return self._rows(rows, offsets)
        group, window = divmod(step, self.windows_per_chunk)
        epoch, position = divmod(group, max(1, self.count // global_batch))
        order = torch.randperm(self.count, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        rows = order[(position * global_batch + mine) % self.count]
        return self._rows(rows, torch.full((batch_size,), window * self.hop))

    def sequential(self, max_tokens: int, batch_size: int):
        """Validation batches in order, about max_tokens predicted samples: chunk after chunk in
        windows of seq_len (carried: every window of a group of chunks, fresh at the first)."""
        if self.carry:
            chunks = min(self.count, -(-max_tokens // (self.windows_per_chunk * self.hop)))
            for first in range(0, chunks, batch_size):
                rows = torch.arange(first, min(first + batch_size, chunks))
                for window in range(self.windows_per_chunk):
                    yield self._rows(rows, torch.full((len(rows),), window * self.hop)), window == 0
            return
        places = [(row, window * self.seq_len) for row in range(self.count) for window in range(self.windows_per_chunk)]
        places = places[: max(1, -(-max_tokens // self.seq_len))]
        for first in range(0, len(places), batch_size):
            rows, offsets = torch.tensor(places[first: first + batch_size]).T
            yield self._rows(rows, offsets), True


def piece_chunks(tokens: torch.Tensor, seq_len: int, windows: int, start_token: int | None) -> ChunkWindows | None:
    """A token stream as chunks of `windows` consecutive windows of seq_len tokens, read with the
    model's state carried from window to window (as generation carries it from the first token).
    The chunks tile the stream, each beginning at the last start of a piece (a `start_token`) that
    the chunk before it reached, so that most chunks read a piece from its beginning, or where the
    chunk before ended inside a long piece; every token is read, few twice. None when the stream
    is shorter than one chunk."""
    chunk = windows * seq_len + 1
    if len(tokens) < chunk:
        return None
    marks = (tokens == start_token).nonzero().flatten() if start_token is not None else torch.zeros(0, dtype=torch.long)
    starts, position = [], 0
    while position + chunk <= len(tokens):
        starts.append(position)
        end = position + chunk - 1  # the first token the next chunk must predict from
        reached = marks[(marks > position) & (marks <= end)]
        position = int(reached[-1]) if len(reached) else end
    if starts[-1] + chunk < len(tokens):  # the tail: one more chunk, ending with the stream
        starts.append(len(tokens) - chunk)
    return ChunkWindows(tokens, torch.tensor(starts), chunk, seq_len, lookback=1)


def audio_windows(codec: Any, recordings: list[Any], chunk_len: int, overlap: int, seq_len: int,
                  lookback: int | None = None) -> ChunkWindows | None:
    """The recordings (objects with .samples and .style) quantized, concatenated per style (in the
    order of codec.styles when the codec has styles) and cut into chunks of chunk_len samples that
    overlap by `overlap`; None when there is not one whole chunk."""
    styles = list(getattr(codec, "styles", []))
    groups = [[r.samples for r in recordings if r.style == style] for style in styles] if styles \
        else [[r.samples for r in recordings]]
    dtype = np.int16 if codec.vocab_size <= 2 ** 15 else np.int32
    pieces, starts, ids, offset = [], [], [], 0
    for style_id, group in enumerate(groups):
        if not group:
            continue
        levels = codec.encode_array(np.concatenate(group)).astype(dtype)
        here = np.arange(0, len(levels) - chunk_len + 1, chunk_len - overlap)
        pieces.append(levels)
        starts.append(offset + here)
        ids += [style_id] * len(here)
        offset += len(levels)
    if not ids:
        return None
    return ChunkWindows(torch.from_numpy(np.concatenate(pieces)), torch.from_numpy(np.concatenate(starts)),
                        chunk_len, seq_len, torch.tensor(ids) if styles else None, lookback)


# -- the windows of a recipe (Recipe.make_windows) -----------------------------------------------

def token_windows(codec: Codec, items: list[Any], hp: dict[str, Any], training: bool) -> Any:
    """The items as one token stream cut into windows of seq_len (text and MIDI): independent
    windows, or with `carry_windows` N chunks of N windows from the beginnings of the pieces, read
    with the model's state carried across them (when the stream holds one such chunk)."""
    tokens = encode_items(codec, items)
    if training and len(tokens) < hp["seq_len"] + 1:
        raise UserError(f"the training split has {len(tokens)} tokens, fewer than one training sequence "
                        f"({hp['seq_len']} + 1); add material or lower the setting seq_len")
    if len(tokens) < 2:
        return None
    chunks = hp.get("carry_windows") and piece_chunks(tokens, hp["seq_len"], hp["carry_windows"],
                                                      getattr(codec, "start_token", None))
    return chunks or TokenWindows(tokens, hp["seq_len"])


def chunk_windows(lookback: Callable[[dict[str, Any]], int | None]):
    """make_windows of an audio recipe: chunks of chunk_seconds (overlapping by chunk_overlap in
    training), read as random windows, or consecutively from a carried state when `lookback(hp)`
    gives the model's look-back."""
    def make(codec: Codec, items: list[Any], hp: dict[str, Any], training: bool):
        rate = hp["sample_rate"]
        chunk, overlap = round(hp["chunk_seconds"] * rate), round(hp["chunk_overlap"] * rate) if training else 0
        if chunk < hp["seq_len"] + 1 or not 0 <= overlap < chunk:
            raise UserError(f"chunk_seconds={hp['chunk_seconds']} must hold one training sequence "
                            f"({hp['seq_len']} + 1 samples) and be longer than chunk_overlap={hp['chunk_overlap']}")
        windows = audio_windows(codec, items, chunk, overlap, hp["seq_len"], lookback(hp))
        if training and windows is None:
            seconds = sum(len(r.samples) for r in items) / rate
            raise UserError(f"the training split has {seconds:.1f} s of audio, less than one chunk of "
                            f"{hp['chunk_seconds']} s; add recordings or lower the setting chunk_seconds")
        return windows

    return make


class PhraseWindows:
    """Phrases of bars (a MusicVAE's examples, codecs/bars.py), int64 [count, steps, tracks], each a
    whole example: a step's batch is a slice of a seeded permutation per epoch, a pure function of
    (seed, step) as for token windows."""

    carry = False

    def __init__(self, phrases: torch.Tensor, files: int):
        self.phrases, self.files, self.count = phrases, files, len(phrases)
        self.seq_len = phrases.shape[1]  # grid steps a phrase holds (what the progress bar's rate counts)

    def describe(self, codec: Codec) -> str:
        return f"{self.count:,} phrases of {codec.bars} bars from {self.files:,} files"

    def steps_per_epoch(self, global_batch: int) -> int:
        return max(1, self.count // global_batch)

    def batch(self, step: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1) -> tuple[torch.Tensor]:
        global_batch = batch_size * world_size
        epoch, position = divmod(step, self.steps_per_epoch(global_batch))
        order = torch.randperm(self.count, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        first = position * global_batch + rank * batch_size
        return (self.phrases[order[torch.arange(first, first + batch_size) % self.count]],)

    def fresh(self, step: int) -> bool:
        return True

    def sequential(self, max_tokens: int, batch_size: int):
        """Validation batches in order: the first phrases holding about max_tokens steps."""
        phrases = self.phrases[: max(1, -(-max_tokens // self.phrases.shape[1]))]
        for first in range(0, len(phrases), batch_size):
            yield (phrases[first: first + batch_size],), True


class NoteWindows:
    """Whole notes as spectrograms (a GANSynth's examples, codecs/specgram.py): float32 [count, 2,
    frames, bins] and their pitch indices; a step's batch is a slice of a seeded permutation per
    epoch, a pure function of (seed, step) as for the other windows."""

    carry = False
    seq_len = 1  # what the progress bar's rate counts: notes

    def __init__(self, specgrams: torch.Tensor, pitches: torch.Tensor):
        self.specgrams, self.pitches, self.count = specgrams, pitches, len(specgrams)

    def describe(self, codec: Codec) -> str:
        return f"{self.count:,} notes of {codec.samples / codec.sample_rate:g} s ({len(self.pitches.unique())} pitches)"

    def steps_per_epoch(self, global_batch: int) -> int:
        return max(1, self.count // global_batch)

    def batch(self, step: int, batch_size: int, seed: int, rank: int = 0,
              world_size: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        global_batch = batch_size * world_size
        epoch, position = divmod(step, self.steps_per_epoch(global_batch))
        order = torch.randperm(self.count, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        chosen = order[torch.arange(position * global_batch + rank * batch_size,
                                    position * global_batch + (rank + 1) * batch_size) % self.count]
        return self.specgrams[chosen], self.pitches[chosen]

    def fresh(self, step: int) -> bool:
        return True

    def sequential(self, max_tokens: int, batch_size: int):
        """Validation batches in order: the first max_tokens notes."""
        count = min(self.count, max(1, max_tokens))
        for first in range(0, count, batch_size):
            last = min(first + batch_size, count)
            yield (self.specgrams[first:last], self.pitches[first:last]), True


def note_windows(codec: Any, items: list[Any], hp: dict[str, Any], training: bool) -> NoteWindows | None:
    """make_windows of a GANSynth recipe: every note in the codec's pitch range; for training, a
    UserError when they do not fill one batch (none for validation: None)."""
    specgrams, pitches = codec.encode_notes(items)
    if len(specgrams) < (hp["batch_size"] if training else 1):
        if training:
            raise UserError(f"{len(specgrams)} notes in the pitch range {codec.min_pitch}-{codec.max_pitch}, fewer than "
                            f"one batch ({hp['batch_size']}); add notes or lower the setting batch_size")
        return None
    return NoteWindows(specgrams, pitches)


def phrase_windows(codec: Any, items: list[Any], hp: dict[str, Any], training: bool) -> PhraseWindows | None:
    """make_windows of a MusicVAE recipe: every phrase of the pieces (`codec.phrases`), with a line
    saying how many came from how many files; for training, a UserError when they do not fill
    one batch (none for validation: None)."""
    phrases, named, other_metre = [], set(), set()  # files by name: transposed copies keep theirs
    for piece in items:
        if not codec.in_metre(piece):
            other_metre.add(piece.name)
            continue
        found = codec.phrases(piece)
        phrases += found
        if found:
            named.add(piece.name)
    files = len(named)
    split = "training" if training else "validation"
    left_out = (f" ({len(other_metre):,} files in another metre than {codec.metre[0]}/{codec.metre[1]} left out)"
                if other_metre else "")
    info(f"{split} split: {len(phrases):,} phrases of {codec.bars} bars ({codec.kind}) from {files:,} of "
         f"{len({piece.name for piece in items}):,} files{left_out}")
    if training and len(phrases) < hp["batch_size"]:
        raise UserError(f"the training split has {len(phrases)} {codec.bars}-bar {codec.kind} phrases from {files} "
                        f"files, fewer than one batch ({hp['batch_size']}); add MIDI files with whole bars of "
                        f"{codec.kind}, or lower the setting batch_size")
    if not phrases:
        return None
    return PhraseWindows(torch.from_numpy(np.stack(phrases)).long(), files)


def frame_hop(hp: dict[str, Any]) -> int:
    """Samples per code frame of an NSynth recipe: `frame_ms` at `sample_rate` (256 at 8 kHz)."""
    return max(1, round(hp["sample_rate"] * hp["frame_ms"] / 1000))


class NSynthWindows:
    """Whole notes as quantized levels (an NSynth's examples, models/nsynth.py), [count, time]
    (int16 for 256 levels: 4926 notes of 1 s at 8 kHz hold 80 MB), time a whole number of code frames. A training row is a window of `seq_len` decoder
    predictions at a seeded random place in a note, with the whole note (which the encoder
    reads) and the window's offset: (decoder inputs, targets, note, offset); the note order is a
    seeded permutation per epoch, a pure function of (seed, step) as for the other windows.
    Validation reads whole notes (offset 0)."""

    carry = False

    def __init__(self, notes: torch.Tensor, seq_len: int, silence: int):
        self.notes, self.count, self.silence = notes, len(notes), silence
        self.seq_len = min(seq_len, notes.shape[1])  # what the progress bar's rate counts: samples

    def describe(self, codec: Codec) -> str:
        return f"{self.count:,} notes of {self.notes.shape[1] / codec.sample_rate:g} s"

    def steps_per_epoch(self, global_batch: int) -> int:
        return max(1, self.count // global_batch)

    def fresh(self, step: int) -> bool:
        return True

    def _rows(self, notes: torch.Tensor, offsets: torch.Tensor, length: int) -> tuple[torch.Tensor, ...]:
        notes = notes.long()
        inputs = torch.cat([torch.full((len(notes), 1), self.silence, dtype=notes.dtype), notes[:, :-1]], 1)
        index = offsets[:, None] + torch.arange(length)
        return inputs.gather(1, index), notes.gather(1, index), notes, offsets

    def batch(self, step: int, batch_size: int, seed: int, rank: int = 0,
              world_size: int = 1) -> tuple[torch.Tensor, ...]:
        global_batch = batch_size * world_size
        epoch, position = divmod(step, self.steps_per_epoch(global_batch))
        order = torch.randperm(self.count, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        first = position * global_batch + rank * batch_size
        chosen = order[torch.arange(first, first + batch_size) % self.count]
        places = torch.Generator().manual_seed(seed * 1_000_003 + step)
        offsets = torch.randint(self.notes.shape[1] - self.seq_len + 1, (global_batch,), generator=places)
        return self._rows(self.notes[chosen], offsets[rank * batch_size:(rank + 1) * batch_size], self.seq_len)

    def sequential(self, max_tokens: int, batch_size: int):
        """Validation batches in order: the first whole notes holding about max_tokens samples."""
        count = min(self.count, max(1, -(-max_tokens // self.notes.shape[1])))
        for first in range(0, count, batch_size):
            notes = self.notes[first: min(first + batch_size, count)]
            yield self._rows(notes, torch.zeros(len(notes), dtype=torch.long), notes.shape[1]), True


def nsynth_windows(codec: Any, items: list[Any], hp: dict[str, Any], training: bool) -> NSynthWindows | None:
    """make_windows of an NSynth recipe: every note (a corpus.notes.Note) quantized by the codec,
    padded with silence to whole code frames (frame_hop); for training, a UserError when they do
    not fill one batch (none for validation: None)."""
    hop = frame_hop(hp)
    if training and len(items) < hp["batch_size"]:
        raise UserError(f"{len(items)} notes, fewer than one batch ({hp['batch_size']}); add notes or lower "
                        "the setting batch_size")
    if not items:
        return None
    length = max(len(note.samples) for note in items)
    if length < hop:
        raise UserError(f"the notes are {length} samples long, shorter than one code frame ({hop} samples, "
                        f"frame_ms={hp['frame_ms']}); give longer notes (the setting seconds)")
    padded = -(-length // hop) * hop
    waves = np.stack([np.pad(note.samples, (0, padded - len(note.samples))) for note in items])
    levels = codec.encode_array(waves).astype(np.int16 if codec.vocab_size <= 2 ** 15 else np.int32)
    return NSynthWindows(torch.from_numpy(levels), hp["seq_len"], int(codec.encode_array(0.0)))
