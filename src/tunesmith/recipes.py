"""The recipe table: each recipe pairs a corpus reader, a codec, a model, its objective and its
generator with default hyperparameters, all reachable through `--set key=value`. Adding a kind of
model adds a row here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from torch import nn

from tunesmith.codecs import CODECS, CharCodec, Codec
from tunesmith.media.domains import AUDIO, MIDI, TEXT
from tunesmith.corpus import Document
from tunesmith.corpus.text import read_text_corpus
from tunesmith.errors import UserError, info
from tunesmith.models.music_transformer import DEFAULTS as MT
from tunesmith.models.music_transformer import MusicTransformer
from tunesmith.models.fft_lstm import frame_lookback
from tunesmith.models.rnn import CELLS, RNNLanguageModel
from tunesmith.generation.autoregressive import AUTOREGRESSIVE
from tunesmith.generation.latent import LATENT
from tunesmith.generation.oneshot import ONE_SHOT
from tunesmith.generation.autoencoder import AUTOENCODER
from tunesmith.generation.waveform import WAVEFORM
from tunesmith.generation.frames import FRAMES
from tunesmith.models.music_vae import DEFAULTS as MVAE
from tunesmith.training.data import chunk_windows, note_windows, phrase_windows, token_windows
from tunesmith.training.data import frame_hop, nsynth_windows
from tunesmith.training.objectives import CarriedState, Objective, adversarial, carried_state, elbo, next_token
from tunesmith.training.objectives import spectral_loss


@dataclass(frozen=True)
class Param:
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    check: Callable[[str, Any], Any] | None = None  # (key, value): raises a UserError for a bad value

    def parse(self, key: str, text: str) -> Any:
        """The value of `--set key=text`, converted to the type of the default."""
        kind = type(self.default)
        try:
            if kind is bool:
                if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                value = text.lower() in ("true", "1", "yes")
            else:
                value = kind(text)
        except ValueError:
            kinds = {bool: "true or false", int: "whole number", float: "number", str: "word"}
            raise UserError(f"setting {key}={text}: {key} takes a {kinds[kind]}, e.g. {key}={self.default}") from None
        if self.choices and value not in self.choices:
            raise UserError(f"setting {key}={text}: choose one of {', '.join(self.choices)}")
        if self.check:
            self.check(key, value)
        return value


ANNEAL_HELP = ("when a validation does not improve on the best, go back to the best weights and divide the "
               "learning rate by 4, up to this many times; at the next validation without improvement after "
               "that, training has converged and stops (0: never)")

TRAINER_PARAMS: dict[str, Param] = {
    "batch_size": Param(64, "sequences per step (per process under torchrun)"),
    "seq_len": Param(128, "tokens per training sequence (backpropagation through time)"),
    "lr": Param(3e-3, "peak learning rate of AdamW"),
    "min_lr_ratio": Param(0.1, "final learning rate as a fraction of lr, after cosine decay"),
    "warmup_steps": Param(100, "steps of linear learning-rate warm-up"),
    "weight_decay": Param(0.0, "AdamW weight decay"),
    "grad_clip": Param(1.0, "clip the gradient norm to this (0 disables)"),
    "val_fraction": Param(0.05, "share of documents held out for validation"),
    "eval_every": Param(200, "steps between validation + checkpoint"),
    "eval_tokens": Param(100_000, "at most this many validation tokens per evaluation"),
    "keep_last": Param(3, "checkpoints kept besides the best one"),
    "patience": Param(0, "stop after this many evaluations without improvement (0: never)"),
    "anneal": Param(0, ANNEAL_HELP),
    "sample_length": Param(300, "tokens of the preview sample written at each checkpoint"),
}


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str
    example: str
    default_data: str | None  # a bundled corpus name, or None where --data is required
    default_steps: int
    read_corpus: Callable[[str, dict[str, Any]], list[Document]]  # (source, hparams)
    make_codec: Callable[[list[Any], dict[str, Any]], Codec]  # fitted on the corpus items
    build_model: Callable[[dict[str, Any], Codec], nn.Module]
    domain: Any  # domains.TEXT, MIDI or AUDIO: primers, outputs, files
    params: dict[str, Param] = field(default_factory=dict)
    augment: Callable[[list[Any], dict[str, Any]], list[Any]] | None = None  # training items only
    # (codec, items, hparams, training) -> training windows (data.TokenWindows or ChunkWindows), or
    # None when the items cannot fill one; for training, a UserError saying what is missing instead
    make_windows: Callable[[Codec, list[Any], dict[str, Any], bool], Any] = token_windows
    # (model, hparams, training windows) -> what the model learns by (training.objectives)
    objective: Callable[[nn.Module, dict[str, Any], Any], Objective] = next_token
    generator: Any = AUTOREGRESSIVE  # how it makes new material (generation/)

    def all_params(self) -> dict[str, Param]:
        return {**TRAINER_PARAMS, **self.params}

    def hparams(self, settings: list[str]) -> dict[str, Any]:
        """Defaults overridden by `--set key=value` strings."""
        params = self.all_params()
        values = {key: p.default for key, p in params.items()}
        for setting in settings:
            key, sep, text = setting.partition("=")
            key = key.strip()
            if not sep:
                raise UserError(f"setting {setting}: write it as key=value, e.g. hidden_size=256")
            if key not in params:
                raise UserError(f"setting {key}: {self.name} has no such setting; it has "
                                f"{', '.join(params)}")
            values[key] = params[key].parse(key, text.strip())
        return values


# -- models ---------------------------------------------------------------------------------------

def build_rnn(hp: dict[str, Any], codec: Codec) -> nn.Module:
    return RNNLanguageModel(codec.vocab_size, hp["embedding_size"], hp["hidden_size"], hp["layers"],
                            hp["cell"], hp["dropout"])


def build_music_transformer(hp: dict[str, Any], codec: Codec) -> nn.Module:
    return MusicTransformer(codec.vocab_size, d_model=hp["d_model"], layers=hp["layers"], heads=hp["heads"],
                            d_ff=hp["d_ff"], max_relative=hp["seq_len"], dropout=hp["dropout"],
                            local_window=hp["local_window"], tie_embeddings=hp["tie_embeddings"])


def rnn_params(layers: int, hidden_size: int, embedding_size: int, dropout: float,
               carry_windows: int = 0) -> dict[str, Param]:
    return {
        "cell": Param("lstm", "recurrent cell", tuple(CELLS)),
        "layers": Param(layers, "stacked recurrent layers"),
        "hidden_size": Param(hidden_size, "units per recurrent layer"),
        "embedding_size": Param(embedding_size, "size of the token embedding"),
        "dropout": Param(dropout, "dropout between layers and before the output"),
        "carry_windows": Param(carry_windows, "read each piece from its beginning in runs of this many windows, "
                                              "carrying the RNN state across them (truncated BPTT, as generation "
                                              "runs); 0: independent windows from a zero state"),
    }


# -- music: codecs and augmentation ---------------------------------------------------------------

MIDI_PARAMS = {
    "val_fraction": Param(0.1, "share of files held out for validation (Magenta's eval ratio)"),
    "transpose": Param(3, "augment training pieces by transposing up and down 1..N semitones (0: off)"),
    "stretch": Param(0.0, "augment by tempo stretch of +-this fraction, e.g. 0.05 (0: off)"),
    "sample_length": Param(256, "tokens of the preview MIDI written at each checkpoint"),
    "transcribe": Param(False, "the data may hold recordings (wav, flac, mp3...): transcribe them to notes with "
                               "basic-pitch (kept in the cache) and train on those"),
}


def transposition(hp: dict[str, Any]) -> int:
    """The transposition augmentation in semitones: none with normalize_key, which moves every
    piece into C, so that a transposed copy would be the same tune again, or the same tune an
    octave away (a G major tune is moved up 5 into C; moved down 1..3 semitones first, it is moved
    down 4..6, into the C an octave lower), which only teaches the model that a tune's register is
    a toss-up."""
    return 0 if hp.get("normalize_key") else hp["transpose"]


def augment_pieces(pieces: list[Any], hp: dict[str, Any]) -> list[Any]:
    """The pieces, transposed by +-1..transpose semitones (see `transposition`) and
    tempo-stretched by 1+-stretch."""
    from tunesmith import notes

    out = list(pieces)
    if hp.get("normalize_key") and hp["transpose"]:
        info(f"no transposed copies (transpose={hp['transpose']}): normalize_key moves every piece into C major "
             "or A minor, so a transposed copy would be the same tune, or the same tune an octave away")
    for semitones in range(1, transposition(hp) + 1):
        out += [notes.transpose(p, s) for p in pieces for s in (semitones, -semitones)]
    if hp["stretch"] > 0:
        out += [notes.stretch(p, f) for p in list(out) for f in (1 - hp["stretch"], 1 + hp["stretch"])]
    return [p for p in out if len(p)]


def fit_codec(name: str, **options: Any) -> Callable[[list[Any], dict[str, Any]], Codec]:
    def fit(items: list[Any], hp: dict[str, Any]) -> Codec:
        return CODECS[name].fit(items, **options)

    return fit


def pitch_range(key: str, text: str) -> tuple[int, int] | None:
    """The (low, high) of a LOW-HIGH pitch range setting, None for "data"."""
    if text == "data":
        return None
    low, sep, high = text.partition("-")
    if not (sep and low.strip().isdigit() and high.strip().isdigit() and 11 <= int(high) - int(low)
            and int(high) <= 127):
        raise UserError(f"setting {key}={text}: give data, or LOW-HIGH in MIDI pitches 0-127 at least an octave "
                        "apart, e.g. 48-83")
    return int(low), int(high)


PITCH_RANGE = Param("data", "pitches the model knows: data (the corpus's, widened by transpose) or LOW-HIGH, "
                            "e.g. 48-83 (Magenta's melody range); pitches outside are moved by octaves into it",
                    check=pitch_range)
NORMALIZE_KEY = Param(True, "move each piece into C major / A minor for the model, a key token restoring its "
                            "key (Magenta's transpose_to_key); false: the model learns every key")


def fit_pitched_codec(name: str) -> Callable[[list[Any], dict[str, Any]], Codec]:
    """A melody or polyphony codec whose pitch range is the corpus's (--set pitch_range=data) or
    the one given as LOW-HIGH."""
    def fit(items: list[Any], hp: dict[str, Any]) -> Codec:
        given = pitch_range("pitch_range", hp["pitch_range"])
        if given is None:
            return CODECS[name].fit(items, transpose=transposition(hp), key_tokens=hp["normalize_key"])
        return CODECS[name].fit(items, min_pitch=given[0], max_pitch=given[1], key_tokens=hp["normalize_key"])

    return fit


def fit_transformer_codec(items: list[Any], hp: dict[str, Any]) -> Codec:
    if hp["codec"] == "miditok":
        return CODECS["miditok"].fit(items, tokenization=hp["tokenization"])
    return CODECS["performance"].fit(items)


def read_midi(source: str, hp: dict[str, Any]) -> list[Document]:
    from tunesmith.corpus.midi import read_midi_corpus

    return read_midi_corpus(source, hp.get("transcribe", False))


def read_text(source: str, hp: dict[str, Any]) -> list[Document]:
    return read_text_corpus(source)


# -- raw audio ------------------------------------------------------------------------------------

AUDIO_PARAMS = {
    "sample_rate": Param(16000, "sample rate (Hz) the recordings are resampled to"),
    "q_type": Param("mu-law", "quantization of samples", ("linear", "mu-law", "a-law")),
    "q_levels": Param(256, "quantization levels (the softmax size)"),
    "silence_threshold": Param(0.01, "RMS under which leading/trailing audio is trimmed (0: keep it)"),
    "chunk_seconds": Param(8.0, "the audio of each split is concatenated and cut into chunks this long"),
    "chunk_overlap": Param(1.0, "seconds by which consecutive training chunks overlap"),
    "val_fraction": Param(0.1, "share of recordings (or of 1-minute sections of few recordings) for validation"),
    "test_fraction": Param(0.1, "share held out for the test NLL of `tunesmith eval`"),
    "seq_len": Param(4096, "samples per training sequence"),
    "batch_size": Param(4, "sequences per step (per process under torchrun)"),
    "eval_tokens": Param(65536, "at most this many validation samples per evaluation"),
    "sample_length": Param(8000, "samples of each test clip written at each checkpoint"),
    "test_clips": Param(3, "test clips written into samples/ (and TensorBoard) at each checkpoint"),
}
def read_audio(source: str, hp: dict[str, Any]) -> list[Document]:
    from tunesmith.corpus.audio import read_recordings

    return read_recordings(source, hp["sample_rate"], hp["silence_threshold"])


def fit_quantizer(items: list[Any], hp: dict[str, Any]) -> Codec:
    """The quantizer; with condition_on_style and 2+ styles in the corpus, it names them."""
    styles = sorted({r.style for r in items}) if hp.get("condition_on_style") else []
    return CODECS["quantize"].fit(items, q_type=hp["q_type"], q_levels=hp["q_levels"], sample_rate=hp["sample_rate"],
                                  styles=styles if len(styles) > 1 else [])


def audio_recipe(name: str, summary: str, example: str, build_model: Callable[[dict[str, Any], Codec], nn.Module],
                 params: dict[str, Param], lookback: Callable[[dict[str, Any]], int | None], **fields: Any) -> Recipe:
    """A raw-audio recipe: recordings in (default: the bundled chorales rendered to audio),
    quantized samples, chunked windows, WAV clips out."""
    return Recipe(name=name, summary=summary, example=example, default_data="chorales-audio", default_steps=2000,
                  read_corpus=read_audio, make_codec=fit_quantizer, build_model=build_model, domain=AUDIO,
                  params={**AUDIO_PARAMS, **params}, make_windows=fields.pop("make_windows", chunk_windows(lookback)),
                  **fields)


def metre(key: str, text: str) -> tuple[int, int] | None:
    """The (numerator, denominator) of a N/D metre setting, None for "data"."""
    if text == "data":
        return None
    numerator, sep, denominator = text.partition("/")
    if not (sep and numerator.isdigit() and denominator in ("1", "2", "4", "8", "16") and 0 < int(numerator) <= 32):
        raise UserError(f"setting {key}={text}: give data, or a time signature such as 4/4, 3/4 or 6/8")
    return int(numerator), int(denominator)


def fit_bars_codec(items: list[Any], hp: dict[str, Any]) -> Codec:
    """Phrases in the corpus's most common metre, or the one the setting `metre` names."""
    given = metre("metre", hp["metre"])
    if given is None:
        return CODECS["bars"].fit(items, kind=hp["kind"], bars=hp["bars"])
    return CODECS["bars"](kind=hp["kind"], bars=hp["bars"], metre=given)


def build_music_vae(hp: dict[str, Any], codec: Codec) -> nn.Module:
    """Magenta's flat decoder for short phrases, its hierarchical one (a conductor) for long
    phrases and for trios, unless the setting `decoder` says which."""
    from tunesmith.models.music_vae import MusicVAE

    hierarchical = hp["decoder"] == "hierarchical" or (hp["decoder"] == "auto" and (codec.bars > 4 or codec.tracks > 1))
    return MusicVAE(codec.class_counts, codec.phrase_steps, codec.bars, hierarchical, z_size=hp["z_size"],
                    encoder_size=hp["encoder_size"], encoder_layers=hp["encoder_layers"],
                    decoder_size=hp["decoder_size"], decoder_layers=hp["decoder_layers"],
                    conductor_size=hp["conductor_size"], conductor_layers=hp["conductor_layers"],
                    embedding_size=hp["embedding_size"], dropout=hp["dropout"])


def build_samplernn(hp: dict[str, Any], codec: Codec) -> nn.Module:
    from tunesmith.models.samplernn import SampleRNN

    return SampleRNN(codec.vocab_size, tiers=hp["tiers"], frame_size=hp["frame_size"],
                     big_frame_size=hp["big_frame_size"], dim=hp["dim"], n_rnn=hp["n_rnn"], rnn_type=hp["rnn_type"],
                     learn_h0=hp["learn_h0"], skip_conn=hp["skip_conn"], weight_norm=hp["weight_norm"],
                     emb_size=hp["emb_size"], dropout=hp["dropout"])


def samplernn_lookback(hp: dict[str, Any]) -> int | None:
    """The top frame size when state is carried across windows, which then must hold whole top frames."""
    if not hp["carry_state"]:
        return None
    lookback = hp["big_frame_size"] if hp["tiers"] == 3 else hp["frame_size"]
    predicted = hp["seq_len"] + 1 - lookback
    if predicted < lookback or predicted % lookback:
        raise UserError(f"setting seq_len={hp['seq_len']}: carrying state needs seq_len = {lookback} x k - 1 "
                        f"(look-back {lookback} + whole frames of {lookback}), e.g. {lookback * 17 - 1}")
    return lookback


def build_wavenet(hp: dict[str, Any], codec: Codec) -> nn.Module:
    from tunesmith.models.wavenet import WaveNet

    return WaveNet(codec.vocab_size, hp["residual_channels"], hp["dilation_channels"], hp["skip_channels"],
                   hp["filter_width"], hp["layers_per_block"], hp["blocks"],
                   global_conditions=len(getattr(codec, "styles", [])), dropout=hp["dropout"])


def build_rgan(hp: dict[str, Any], codec: Codec) -> nn.Module:
    """The recurrent GAN, with the codec's level-to-sample table to decode training windows; the
    clips must hold whole frames, and at least one frame of validation's Frechet distance."""
    import numpy as np
    import torch

    from tunesmith.audio_stats import FRECHET_FFT
    from tunesmith.models.rgan import RecurrentGAN

    frame, seq_len = hp["frame_size"], hp["seq_len"]
    if frame < 2 or frame % 2:
        raise UserError(f"setting frame_size={frame}: give an even number of samples, e.g. 64")
    if seq_len % frame or seq_len < FRECHET_FFT:
        raise UserError(f"setting seq_len={seq_len}: the training clips must be whole frames of frame_size={frame} "
                        f"and at least {FRECHET_FFT} samples, e.g. seq_len={frame * max(1, -(-4096 // frame))}")
    levels = torch.from_numpy(codec.decode_array(np.arange(codec.vocab_size)))
    return RecurrentGAN(levels, frame_size=frame, noise_size=hp["noise_size"], z_size=hp["z_size"],
                        hidden=hp["hidden_size"], layers=hp["layers"], critic_hidden=hp["critic_hidden"],
                        critic_layers=hp["critic_layers"], bidirectional=hp["bidirectional"],
                        critic_spectrum=hp["critic_spectrum"], overlap=hp["overlap"])


def build_sample_lstm(hp: dict[str, Any], codec: Codec) -> nn.Module:
    from tunesmith.models.sample_lstm import SampleLSTM

    return SampleLSTM(codec.vocab_size, window=hp["window"], conv_channels=hp["conv_channels"],
                      hidden_size=hp["hidden_size"], layers=hp["layers"], head=hp["head"], head_size=hp["head_size"],
                      mse_std=hp["mse_std"], dropout=hp["dropout"])


def sample_lstm_lookback(hp: dict[str, Any]) -> int | None:
    """The window when state is carried across windows (each repeats the last `window` samples of
    the one before as its history), None for random windows; either way a window of seq_len + 1
    samples must hold the history and at least one sample to predict."""
    if hp["seq_len"] < hp["window"]:
        raise UserError(f"setting seq_len={hp['seq_len']}: a window must hold window={hp['window']} samples of "
                        f"history and one to predict; give seq_len at least {hp['window']}, e.g. "
                        f"{hp['window'] + 1023}")
    return hp["window"] if hp["carry_state"] else None


def positive_setting(key: str, value: Any) -> None:
    """A Param check: the value must be above 0."""
    if not value > 0:
        raise UserError(f"setting {key}={value}: {key} must be above 0")


def not_negative_setting(key: str, value: Any) -> None:
    """A Param check: the value must be 0 or more."""
    if value < 0:
        raise UserError(f"setting {key}={value}: {key} must be 0 or more")


def build_fft_lstm(hp: dict[str, Any], codec: Codec) -> nn.Module:
    """The frame LSTM, with the codec's level-to-sample table to turn training windows into frames."""
    import numpy as np

    from tunesmith.models.fft_lstm import FFTLSTM, frame_settings

    fft_size, hop = frame_settings(hp)
    return FFTLSTM(codec.decode_array(np.arange(codec.vocab_size)), fft_size, hop, hidden_size=hp["hidden_size"],
                   layers=hp["layers"], dropout=hp["dropout"], phase_weight=hp["phase_weight"],
                   input_noise=hp["input_noise"], rollout=hp["rollout"])


def fft_lstm_windows(codec: Codec, items: list[Any], hp: dict[str, Any], training: bool):
    """make_windows of fft-lstm: the shared audio chunk windows, each context + 2 frames long
    (models.fft_lstm.window_samples, in place of seq_len), read consecutively with carry_state."""
    from tunesmith.models.fft_lstm import window_samples

    return chunk_windows(frame_lookback)(codec, items, {**hp, "seq_len": window_samples(hp) - 1}, training)


def frames_set_seq_len(key: str, value: Any) -> None:
    """A Param check: fft-lstm's window is set in frames (context), not by seq_len."""
    if value:
        raise UserError(f"setting {key}={value}: an fft-lstm window holds context + 2 frames; set context "
                        "(frames), fft_size and hop instead, and leave seq_len at 0")


# -- neural instruments ----------------------------------------------------------------------------

def read_notes_corpus(source: str, hp: dict[str, Any]) -> list[Document]:
    from tunesmith.corpus.notes import read_notes

    return read_notes(source, hp["sample_rate"], hp["seconds"])


def fit_specgram_codec(items: list[Any], hp: dict[str, Any]) -> Codec:
    return CODECS["specgram"].fit(items, hp["sample_rate"], hp["seconds"], hp["bins"], hp["mel"],
                                  hp["min_pitch"], hp["max_pitch"])


def build_gansynth(hp: dict[str, Any], codec: Codec) -> nn.Module:
    from tunesmith.models.gansynth import GANSynth

    return GANSynth(frames=codec.frames, bins=codec.bins, z_size=hp["z_size"], pitches=codec.pitches,
                    templates=codec.pitch_templates())


def build_nsynth(hp: dict[str, Any], codec: Codec) -> nn.Module:
    from tunesmith.models.nsynth import NSynth

    return NSynth(codec.vocab_size, frame_hop(hp), code_size=hp["code_size"],
                  encoder_channels=hp["encoder_channels"], encoder_layers=hp["encoder_layers"],
                  encoder_filter_width=hp["encoder_filter_width"], residual_channels=hp["residual_channels"],
                  dilation_channels=hp["dilation_channels"], skip_channels=hp["skip_channels"],
                  filter_width=hp["filter_width"], layers_per_block=hp["layers_per_block"], blocks=hp["blocks"],
                  mixtures=hp["mixtures"], input_noise=hp["input_noise"])


def midi_recipe(name: str, summary: str, example: str, default_data: str | None, codec: str,
                params: dict[str, Param], default_steps: int = 1500, **fields: Any) -> Recipe:
    return Recipe(name=name, summary=summary, example=example, default_data=default_data,
                  default_steps=default_steps, read_corpus=read_midi,
                  make_codec=fields.pop("make_codec", fit_codec(codec)),
                  build_model=fields.pop("build_model", build_rnn), domain=MIDI,
                  objective=fields.pop("objective", carried_state),
                  params={**MIDI_PARAMS, **params}, augment=augment_pieces, **fields)


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        Recipe(
            name="char-rnn",
            summary="character-level RNN language model for lyrics and any text",
            example="tunesmith train char-rnn --data lyrics/ --minutes 10 --set hidden_size=256",
            default_data="lyrics",
            default_steps=2000,
            read_corpus=read_text,
            make_codec=lambda items, hp: CharCodec.fit(items),
            build_model=build_rnn,
            domain=TEXT,
            objective=carried_state,
            # batch 16: on a CPU an LSTM step costs about the same per character at batch 16 as at
            # 64, so four times the updates in the same minutes; 384 units train faster than 512 in
            # 5 minutes; the state is carried through runs of 8 windows, as char-rnn did
            # (benchmarks/text_vs_nanogpt.py)
            params={**rnn_params(layers=1, hidden_size=384, embedding_size=64, dropout=0.0, carry_windows=8),
                    "batch_size": Param(16, "sequences per step (per process under torchrun)"),
                    "eval_every": Param(500, "steps between validation + checkpoint")},
        ),
        midi_recipe(
            "melody-rnn", "monophonic melodies on a 16th-note grid (MelodyRNN, midi-rnn)",
            "tunesmith train melody-rnn --data tunes/ --minutes 10", "folk", "melody",
            # batch 32: on 2 CPU cores a step of 32 windows costs 40% of one of 64 (benchmarks/melody_quality.py)
            {**rnn_params(2, 256, 32, 0.1, carry_windows=8), "pitch_range": PITCH_RANGE,
             "normalize_key": NORMALIZE_KEY, "batch_size": Param(32, "sequences per step (per process under torchrun)"),
             # a hundred tunes are learned in 2-3 minutes, then memorized: validate every 100 steps
             # (half a minute) and anneal from the best point (benchmarks/melody_quality.py)
             "eval_every": Param(100, "steps between validation + checkpoint"),
             "anneal": Param(3, ANNEAL_HELP)},
            make_codec=fit_pitched_codec("melody")),
        midi_recipe(
            "drums-rnn", "drum patterns: sets of 9 drum classes per 16th-note step (DrumsRNN)",
            "tunesmith train drums-rnn --data grooves/ --minutes 10", None, "drums",
            {**rnn_params(2, 256, 32, 0.1), "transpose": Param(0, "no transposition for drums")}),
        midi_recipe(
            "polyphony-rnn", "polyphonic music as note-on/continue/step-end events (PolyphonyRNN)",
            "tunesmith train polyphony-rnn --data chorales --minutes 10", "chorales", "polyphony",
            {**rnn_params(2, 256, 32, 0.1), "pitch_range": PITCH_RANGE,
             "normalize_key": NORMALIZE_KEY}, make_codec=fit_pitched_codec("polyphony")),
        midi_recipe(
            "performance-rnn", "expressive performances: note-on/off, 10 ms time shifts, 32 velocities",
            "tunesmith train performance-rnn --data piano/ --minutes 20", "chorales", "performance",
            {**rnn_params(2, 256, 32, 0.1), "seq_len": Param(256, "tokens per training sequence")}),
        midi_recipe(
            "music-transformer", "decoder-only transformer with relative attention and a KV cache",
            "tunesmith train music-transformer --data chorales --set codec=miditok --set tokenization=REMI",
            "chorales", "performance",
            {"d_model": Param(MT["d_model"], "model width"), "layers": Param(MT["layers"], "transformer blocks"),
             "heads": Param(MT["heads"], "attention heads"), "d_ff": Param(MT["d_ff"], "feed-forward width"),
             "dropout": Param(MT["dropout"], "dropout (0.1 for long runs; it costs a fifth of a CPU step)"),
             "seq_len": Param(MT["max_relative"], "training window = relative positions"),
             "local_window": Param(MT["local_window"], "attend only to the last N tokens (0: the whole window)"),
             "tie_embeddings": Param(MT["tie_embeddings"], "share input embedding and output head"),
             "lr": Param(1e-3, "peak learning rate of AdamW"), "warmup_steps": Param(200, "warm-up steps"),
             "batch_size": Param(16, "sequences per step (per process under torchrun)"),
             "codec": Param("performance", "event vocabulary", ("performance", "miditok")),
             "tokenization": Param("REMI", "miditok tokenization when codec=miditok (REMI, TSD, MIDILike...)")},
            make_codec=fit_transformer_codec, build_model=build_music_transformer, objective=next_token),
        midi_recipe(
            "music-vae", "a latent space of short phrases of bars: sample, interpolate, vary (MusicVAE)",
            "tunesmith train music-vae --data tunes/ --set kind=melody --set bars=2 --minutes 30", "folk", "bars",
            {"kind": Param("melody", "what a phrase holds: melody (90 classes a step), drums (9 drum classes, 512 sets) "
                                     "or trio (melody, bass and drums of a multi-track file)", ("melody", "drums", "trio")),
             "bars": Param(2, "bars a phrase holds (Magenta: 2 or 16)"),
             "metre": Param("data", "the time signature of the phrases: data (the corpus's most common) or N/D, "
                                    "e.g. 4/4; files in another are left out", check=metre),
             "decoder": Param("auto", "flat LSTM, or hierarchical (a conductor RNN per bar); auto: hierarchical for "
                                      "more than 4 bars and for trios", ("auto", "flat", "hierarchical")),
             "z_size": Param(MVAE["z_size"], "latent dimensions"),
             "encoder_size": Param(MVAE["encoder_size"], "units of the bidirectional encoder LSTM, each way"),
             "encoder_layers": Param(MVAE["encoder_layers"], "encoder LSTM layers"),
             "decoder_size": Param(MVAE["decoder_size"], "units of the decoder LSTM"),
             "decoder_layers": Param(MVAE["decoder_layers"], "decoder LSTM layers"),
             "conductor_size": Param(MVAE["conductor_size"], "units of the conductor LSTM (hierarchical)"),
             "conductor_layers": Param(MVAE["conductor_layers"], "conductor LSTM layers (hierarchical)"),
             "embedding_size": Param(MVAE["embedding_size"], "size of each track's class embedding"),
             "dropout": Param(MVAE["dropout"], "dropout in the LSTMs"),
             "preset": Param("reconstruction", "the KL term: reconstruction (max_beta 0.2, 96 free bits: faithful "
                                               "reconstructions, smooth interpolations), sampling (max_beta 0.5, no free "
                                               "bits: samples from the prior like the corpus) or custom (the two "
                                               "settings below)", ("reconstruction", "sampling", "custom")),
             "max_beta": Param(0.2, "the KL weight's final value (preset=custom)"),
             "free_bits": Param(96.0, "bits of KL per phrase that cost nothing (preset=custom)"),
             "beta_rate": Param(0.999, "the KL weight rises as (1 - beta_rate^step) * max_beta: 0.999 reaches 95% "
                                       "of it by step 3000 (Magenta's 0.99999 needs 300,000 steps)"),
             "lr": Param(1e-3, "peak learning rate of AdamW"),
             "eval_tokens": Param(32_000, "at most this many steps of validation phrases per evaluation")},
            default_steps=3000, make_codec=fit_bars_codec, build_model=build_music_vae,
            make_windows=phrase_windows, objective=elbo, generator=LATENT),
        audio_recipe(
            name="wavenet",
            summary="WaveNet on raw audio: dilated causal convolutions, fast generation with conv queues",
            example="tunesmith train wavenet --data album/ --minutes 30 --set blocks=3",
            build_model=build_wavenet,
            params={
                    "residual_channels": Param(32, "channels of the residual stream"),
                    "dilation_channels": Param(32, "channels of the gated dilated convolutions"),
                    "skip_channels": Param(128, "channels of the skip connections"),
                    "filter_width": Param(2, "width of the dilated convolutions"),
                    "layers_per_block": Param(10, "layers per block, dilations 1, 2, 4, ... 2^(n-1)"),
                    "blocks": Param(2, "blocks of dilated layers"),
                    "dropout": Param(0.0, "dropout in the residual layers"),
                    "condition_on_style": Param(True, "condition on the recordings' sub-folders (styles) "
                                                      "when there are 2 or more; sample with --style"),
                    "lr": Param(1e-3, "peak learning rate of AdamW")},
            lookback=lambda hp: None,
        ),
        audio_recipe(
            name="samplernn",
            summary="SampleRNN on raw audio: 2 or 3 tiers of frame-level RNNs over a sample-level MLP",
            example="tunesmith train samplernn --data album/ --set tiers=2 --set frame_size=16 --set seq_len=1039 "
                    "--set dim=1024 --set n_rnn=5 --set rnn_type=lstm --set emb_size=256 --set skip_conn=true "
                    "--set learn_h0=false --set batch_size=128  # the Dadabots' settings, for a GPU",
            build_model=build_samplernn,
            params={
                    "seq_len": Param(1087, "samples per window: big_frame_size of history + 1024 - 1 predicted"),
                    "batch_size": Param(8, "sequences per step (per process under torchrun)"),
                    "tiers": Param(3, "2 or 3 tiers"),
                    "frame_size": Param(16, "samples per frame of the lowest frame tier (and the MLP's input)"),
                    "big_frame_size": Param(64, "samples per frame of the top tier (3 tiers)"),
                    "dim": Param(256, "RNN and MLP width"),
                    "n_rnn": Param(1, "RNN layers per frame tier"),
                    "rnn_type": Param("gru", "frame-tier RNN", ("gru", "lstm")),
                    "learn_h0": Param(True, "learn the RNNs' initial state"),
                    "skip_conn": Param(False, "skip connections across RNN layers and in the MLP"),
                    "weight_norm": Param(True, "weight normalization of the linear layers"),
                    "emb_size": Param(64, "embedding size of a quantized sample in the MLP"),
                    "dropout": Param(0.0, "dropout"),
                    "carry_state": Param(True, "read each chunk in consecutive windows, carrying the RNN state "
                                               "(truncated BPTT); false: random windows from the initial state"),
                    "lr": Param(1e-3, "peak learning rate of AdamW")},
            lookback=samplernn_lookback,
            # the first look-back of each window's targets is history the loss does not score
            objective=lambda model, hp, windows: CarriedState(model, hp, windows, unscored=model.lookback - 1),
        ),
        audio_recipe(
            name="sample-lstm",
            summary="a sample-level LSTM on raw audio: a window of past samples -> conv -> LSTM -> the next sample "
                    "(musicrgan's regressor, done honestly)",
            example="tunesmith train sample-lstm --data album/ --minutes 20 --set head=mse",
            build_model=build_sample_lstm,
            params={
                    "window": Param(64, "past samples each step reads (a causal conv of this width)",
                                    check=positive_setting),
                    "conv_channels": Param(64, "features the conv takes of each window", check=positive_setting),
                    "hidden_size": Param(128, "units per LSTM layer (one step per sample)", check=positive_setting),
                    "layers": Param(1, "stacked LSTM layers", check=positive_setting),
                    "head": Param("mu-law", "mu-law: a softmax over the q_levels levels (cross-entropy); mse: one "
                                            "value regressed by mean squared error (musicrgan's), read as a Gaussian "
                                            "of std mse_std over the levels for its NLL and for sampling",
                                  ("mu-law", "mse")),
                    "head_size": Param(256, "units of the head's hidden layer (0: a linear head)",
                                       check=not_negative_setting),
                    "mse_std": Param(0.1, "head=mse: the Gaussian's fixed std in companded units ([-1, 1]), about "
                                          "the RMS error of a trained model (0.13-0.15 after 3 minutes on "
                                          "chorales-audio); sampling at temperature 1 adds noise of this std",
                                     check=positive_setting),
                    "dropout": Param(0.0, "dropout between LSTM layers and before the head"),
                    "seq_len": Param(1087, "samples per window: window of history + 1024 - 1 predicted"),
                    "batch_size": Param(8, "sequences per step (per process under torchrun)"),
                    "carry_state": Param(True, "read each chunk in consecutive windows, carrying the LSTM state "
                                               "(truncated BPTT); false: random windows from a zero state"),
                    "lr": Param(2e-3, "peak learning rate of AdamW")},
            lookback=sample_lstm_lookback,
            # the first window - 1 targets of each window are history the loss does not score
            objective=lambda model, hp, windows: CarriedState(model, hp, windows, unscored=model.lookback - 1),
        ),
        audio_recipe(
            name="fft-lstm",
            summary="an LSTM predicting the next STFT frame (log magnitude, instantaneous frequency) from the "
                    "frames before, resynthesised by overlap-add",
            example="tunesmith train fft-lstm --minutes 30  # then: tunesmith sample RUN --primer take.wav --seconds 10",
            build_model=build_fft_lstm,
            params={
                    "q_type": Param("linear", "quantization of the stored samples (the model reads them as waveforms)",
                                    ("linear", "mu-law", "a-law")),
                    "q_levels": Param(32768, "quantization levels of the stored samples: 32768 linear levels are "
                                             "15-bit audio, stored as int16 like mu-law's 256, and lie under the "
                                             "spectra's -100 dB floor"),
                    "fft_size": Param(0, "samples per Hann-windowed FFT frame; 0: 32 ms as a power of 2 (512 at "
                                         "16 kHz)"),
                    "hop": Param(0, "samples from one frame to the next: it must divide fft_size and be at most "
                                    "half of it; 0: a quarter of fft_size (128 at 16 kHz)"),
                    "context": Param(10, "frames the LSTM reads per training window, predicting the frame after "
                                         "each (backpropagation through this many; the original read 10 to "
                                         "predict the 11th)"),
                    "carry_state": Param(True, "read each chunk from start to end, carrying the LSTM state from "
                                               "window to window as generation carries it over a clip; false: each "
                                               "window from a zero state, as the original"),
                    "hidden_size": Param(512, "units per LSTM layer"),
                    "layers": Param(2, "LSTM layers"),
                    "dropout": Param(0.0, "dropout between the LSTM layers and before the head"),
                    "phase_weight": Param(1.0, "weight of the instantaneous-frequency term of the loss (0: "
                                               "magnitudes only)"),
                    "input_noise": Param(0.0, "training: std of noise added to the frames the LSTM reads "
                                              "(normalized units), to steady it on its own predictions"),
                    "rollout": Param(9, "training: the last N predictions of each window are made from the "
                                        "model's own predictions before them, as generation makes them, so that "
                                        "it learns to keep its own output steady (0: each from the true frame "
                                        "before, teacher forcing only)"),
                    "seq_len": Param(0, "set by the frames: a window holds context + 2 frames, fft_size + "
                                        "(context + 1) x hop samples; leave at 0", check=frames_set_seq_len),
                    "batch_size": Param(32, "windows per step (per process under torchrun)"),
                    "lr": Param(1e-3, "peak learning rate of AdamW"),
                    "eval_tokens": Param(512000, "at most this many validation samples per evaluation (4 chunks "
                                                 "of 8 s at 16 kHz)"),
                    "sample_length": Param(32000, "samples of each test clip written at each checkpoint")},
            lookback=frame_lookback,
            make_windows=fft_lstm_windows,  # sized in frames (context), not by seq_len
            objective=spectral_loss,
            generator=FRAMES,
        ),
        audio_recipe(
            name="rgan",
            summary="a recurrent GAN on raw audio: an LSTM makes frames of samples from noise, an LSTM critic "
                    "judges clips (WGAN-GP)",
            example="tunesmith train rgan --data album/ --minutes 30  # then: tunesmith sample RUN --seconds 10 "
                    "--num-outputs 4",
            build_model=build_rgan,
            params={
                "q_type": Param("linear", "quantization of the stored samples (the GAN reads them as floats: "
                                          "linear 65536 levels is 16-bit audio, not degraded)",
                                ("linear", "mu-law", "a-law")),
                "q_levels": Param(65536, "quantization levels of the stored samples"),
                "frame_size": Param(64, "samples the generator writes per LSTM step (and the critic reads)"),
                "overlap": Param(False, "each step writes two frames through a Hann window, overlapped and "
                                        "added: frames cross-fade instead of meeting at an edge"),
                "seq_len": Param(4096, "samples per training clip: whole frames, at least 1024"),
                "batch_size": Param(16, "clips per step (per process under torchrun)"),
                "noise_size": Param(32, "noise numbers per frame, fresh at every generator step"),
                "z_size": Param(32, "latent numbers per clip, the same at every step"),
                "hidden_size": Param(256, "units per generator LSTM layer"),
                "layers": Param(2, "generator LSTM layers"),
                "critic_hidden": Param(128, "units per critic LSTM layer (each way)"),
                "critic_layers": Param(1, "critic LSTM layers"),
                "bidirectional": Param(True, "the critic reads each clip both ways"),
                "critic_spectrum": Param(True, "the critic also reads each frame's log magnitude spectrum"),
                "lr": Param(1e-3, "peak learning rate of both Adams (1e-3 learned fastest of 1e-4, 3e-4, 1e-3 in "
                                  "3 minutes)"),
                "beta1": Param(0.0, "Adam's beta1 for both networks (WGAN-GP: 0)"),
                "beta2": Param(0.9, "Adam's beta2 for both networks (WGAN-GP: 0.9)"),
                "gradient_penalty": Param(10.0, "weight of WGAN-GP's gradient penalty"),
                "drift": Param(1e-3, "weight of the drift term D(real)^2 that keeps the critic's scores near 0"),
                "stft_weight": Param(1.0, "weight of the generator's multi-resolution STFT loss: the log of its "
                                          "batch-average spectrum against the real clips' (0: off; in 3 minutes "
                                          "it brought the Frechet distance from 4,000 to 3,400)"),
                "warmup_steps": Param(0, "steps of linear learning-rate warm-up"),
                "min_lr_ratio": Param(0.1, "final learning rate as a fraction of lr, after cosine decay"),
                "grad_clip": Param(0.0, "clip the gradient norm to this (0: off; the penalty keeps the critic's "
                                        "in hand)"),
                "eval_every": Param(100, "steps between validation + checkpoint (test clips in samples/)"),
                "eval_tokens": Param(131072, "at most this many validation samples per evaluation (as many are "
                                             "generated)"),
                "sample_length": Param(32000, "samples of each test clip written at each checkpoint"),
            },
            lookback=lambda hp: None,
            objective=adversarial,
            generator=WAVEFORM,
        ),
        Recipe(
            name="gansynth",
            summary="notes from a latent timbre and a pitch in one pass, over mel IF spectrograms (GANSynth)",
            example="tunesmith train gansynth --data notes --minutes 60  # then: tunesmith sample RUN --pitch 60",
            default_data="notes",
            default_steps=3000,
            read_corpus=read_notes_corpus,
            make_codec=fit_specgram_codec,
            build_model=build_gansynth,
            domain=AUDIO,
            make_windows=note_windows,
            objective=adversarial,
            generator=ONE_SHOT,
            params={
                "sample_rate": Param(8000, "sample rate (Hz) of the notes (8 kHz: a CPU-sized spectrogram)"),
                "seconds": Param(1.0, "the length of every note (longer notes are cut)"),
                "bins": Param(128, "frequency bins of the spectrogram (a power of 2; the FFT is twice as long)"),
                "mel": Param(True, "magnitude and instantaneous frequency on mel bands (GANSynth's best), else linear"),
                "min_pitch": Param(24, "the lowest MIDI pitch trained on (GANSynth: 24-84; notes outside are left out)"),
                "max_pitch": Param(84, "the highest MIDI pitch trained on"),
                "z_size": Param(128, "latent dimensions (the timbre)"),
                "lr": Param(4e-4, "learning rate of both Adams (betas 0, 0.99; GANSynth's 8e-4 let the critic win here)"),
                "warmup_steps": Param(0, "steps of linear learning-rate warm-up"),
                "min_lr_ratio": Param(1.0, "final learning rate as a fraction of lr (1: constant, as GANSynth)"),
                "grad_clip": Param(0.0, "clip the gradient norm to this (0: off; the penalty keeps the critic's in hand)"),
                "batch_size": Param(16, "notes per step (per process under torchrun)"),
                "eval_every": Param(200, "steps between validation + checkpoint (a sweep of notes in samples/)"),
                "eval_tokens": Param(256, "at most this many validation notes per evaluation"),
            },
        ),
        Recipe(
            name="nsynth",
            summary="a WaveNet autoencoder of notes: encode a sound to a slow code, synthesize it back, mix two (NSynth)",
            example="tunesmith train nsynth --data notes --minutes 30  # then: tunesmith mix RUN a.wav b.wav --out ab.wav",
            default_data="notes",
            default_steps=2000,
            read_corpus=read_notes_corpus,
            make_codec=fit_quantizer,
            build_model=build_nsynth,
            domain=AUDIO,
            make_windows=nsynth_windows,
            objective=next_token,
            generator=AUTOENCODER,
            # a CPU-sized cut of NSynth's model (benchmarks and figures: docs, tests/test_nsynth.py)
            params={
                "sample_rate": Param(8000, "sample rate (Hz) of the notes (8 kHz: a CPU-sized WaveNet)"),
                "seconds": Param(1.0, "the length of every note (longer notes are cut, shorter padded)"),
                "q_type": Param("mu-law", "quantization of the samples", ("linear", "mu-law", "a-law")),
                "q_levels": Param(256, "quantization levels (the decoder's classes)"),
                "frame_ms": Param(32.0, "milliseconds per code frame (NSynth: 32 ms, 512 samples at 16 kHz)"),
                "code_size": Param(16, "numbers per code frame (NSynth: 16)"),
                "encoder_channels": Param(32, "channels of the non-causal encoder"),
                "encoder_layers": Param(10, "encoder layers, dilations 1, 2, 4, ... 2^(n-1)"),
                "encoder_filter_width": Param(3, "width of the encoder's dilated convolutions (odd)"),
                "residual_channels": Param(32, "channels of the decoder's residual stream"),
                "dilation_channels": Param(32, "channels of the decoder's gated dilated convolutions"),
                "skip_channels": Param(64, "channels of the decoder's skip connections"),
                "filter_width": Param(2, "width of the decoder's dilated convolutions"),
                "layers_per_block": Param(10, "decoder layers per block, dilations 1, 2, 4, ... 2^(n-1)"),
                "blocks": Param(2, "blocks of decoder layers"),
                "mixtures": Param(0, "0: the decoder's distribution of each sample is a softmax over the levels; "
                                     "N: a mixture of N logistics over them (PixelCNN++), reading its input as a number"),
                "input_noise": Param(0.0, "training, with mixtures > 0: the std of noise added to the decoder's "
                                          "input samples (in [-1, 1])"),
                "seq_len": Param(2048, "samples of each note the decoder predicts per step (the encoder reads "
                                       "the whole note)"),
                "batch_size": Param(8, "notes per step (per process under torchrun)"),
                "lr": Param(1e-3, "peak learning rate of AdamW"),
                "eval_every": Param(250, "steps between validation + checkpoint (a reconstructed sawtooth "
                                         "in samples/)"),
                "eval_tokens": Param(131072, "at most this many validation samples per evaluation (16 notes of 1 s)"),
                "eval_seconds": Param(1.0, "eval: seconds of each held-out note reconstructed (a WaveNet is "
                                           "slow to generate)"),
            },
        ),
    ]
}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise UserError(f"unknown recipe {name!r}; choose one of: {', '.join(RECIPES)}")
    return RECIPES[name]
