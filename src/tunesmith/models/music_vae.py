"""MusicVAE (Roberts et al. 2018, "A Hierarchical Latent Vector Model for Learning Long-Term
Structure in Music"): a VAE of phrases of bars (codecs/bars.py), its ELBO's terms, decoding from z.

The model, top to bottom (phrases are class ids [batch, steps, tracks]; a track is a melody,
a bass or a drum part, each with its own classes, `class_counts`):

    encoder    each track's class embedded, the embeddings of a step concatenated
               -> bidirectional LSTM over the steps; the last layer's final forward and
               backward states concatenated -> linear -> mu, and -> linear -> softplus -> sigma:
               the posterior q(z | phrase) = N(mu, diag(sigma^2))
    flat decoder (hierarchical=False)
               an LSTM whose initial state is tanh(linear(z)) and whose input at every step is z
               concatenated with the embeddings of the previous step's classes (zeros at the
               first step); one linear softmax head per track
    hierarchical decoder (hierarchical=True; Magenta's 16-bar and trio models)
               a conductor LSTM, initial state tanh(linear(z)) and input zeros, runs one step a
               bar and emits an embedding c per bar; each bar is then written by a bottom LSTM
               (one per track, each with its own head, as Magenta's SplitMultiOutLstmDecoder:
               a track sees only its own previous classes) whose initial state is
               tanh(linear(c)) and whose input is c concatenated with the previous step's
               class embedding, zeros at the first step of every bar

Every bar of the hierarchical decoder starts afresh from its conductor embedding (Magenta feeds
the bottom decoder the last class of the previous bar instead), so the bars are independent given
their embeddings: teacher forcing and free-running decoding both run all bars of all phrases as
one batch, and a 16-bar phrase is generated in steps_per_bar sequential steps, not 256. That is
the point of the conductor in the paper too: each bar must be written from its embedding, so the
decoder cannot ignore z (posterior collapse).

Inputs are learned embeddings (`embedding_size` per track) rather than Magenta's one-hot vectors;
a one-hot vector times the LSTM's input weights is an embedding too, of size 4 x hidden, so this
only limits its rank and saves the [steps, 512] one-hot inputs of drums.

Contract with the ELBO objective and the latent generator: `encode`, `reconstruction`,
`loss_terms` (nll, kl, accuracy per phrase, in nats), `kl_per_dimension`, `decode`,
`sample_prior`; and the pure functions `gaussian_kl` and `slerp`.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from tunesmith.errors import UserError

# The default MusicVAE, sized for a 2-bar melody on a CPU: Magenta's cat-mel_2bar_small (encoder
# 512 each way, decoder 256 x 2, z 256; about 4 million weights) scaled down to 0.9 million, so that
# one training step of 64 phrases of 32 steps (forward, backward, Adam) takes about 0.1 s on two
# cores (0.2 s with encoder and decoder at 256). The recipe sets larger sizes for 16 bars and trios.
# No dropout by default (Magenta's dropout_keep_prob is 1.0).
DEFAULTS = dict(z_size=128, encoder_size=128, encoder_layers=1, decoder_size=192, decoder_layers=2,
                conductor_size=192, conductor_layers=2, embedding_size=32, dropout=0.0)


# -- pure functions --------------------------------------------------------------------------------

def gaussian_kl(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) in nats, per dimension (same shape as mu):
    0.5 (sigma^2 + mu^2 - 1) - ln sigma."""
    return 0.5 * (sigma.square() + mu.square() - 1.0) - torch.log(sigma)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latent vectors a and b [..., z_size] at t (0 gives a, 1 gives
    b): the direction turns along the great circle from a's to b's while the length goes linearly
    from |a| to |b| (for vectors of one length, Shoemake's slerp, which Magenta uses). A 1-D tensor
    of n values of t gives n vectors [n, ..., z_size]. Nearly parallel (or opposite) vectors,
    whose great circle is undefined, are interpolated linearly."""
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    t = t.reshape(t.shape + (1,) * a.dim())  # each t against the whole vector (batch) a
    length_a, length_b = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    unit_a, unit_b = a / length_a.clamp_min(1e-12), b / length_b.clamp_min(1e-12)
    angle = torch.acos((unit_a * unit_b).sum(-1, keepdim=True).clamp(-1.0, 1.0))
    sine = torch.sin(angle)
    curved = torch.sin((1 - t) * angle) / sine * unit_a + torch.sin(t * angle) / sine * unit_b
    spherical = curved * ((1 - t) * length_a + t * length_b)
    linear = (1 - t) * a + t * b
    return torch.where(sine.abs() < 1e-6, linear, spherical)


def choose_classes(logits: torch.Tensor, temperature: float = 1.0, generator: torch.Generator | None = None,
                   argmax: bool = False) -> torch.Tensor:
    """One class per row of logits [rows, classes]: the likeliest with `argmax` (or a temperature
    of 0), else drawn from softmax(logits / temperature) with `generator` (its device is where the
    draw happens)."""
    if argmax or temperature <= 0:
        return logits.argmax(-1)
    probabilities = torch.softmax(logits.float() / temperature, dim=-1)
    device = generator.device if generator is not None else probabilities.device
    drawn = torch.multinomial(probabilities.to(device), 1, generator=generator)
    return drawn[:, 0].to(logits.device)


def state_from(vector: torch.Tensor, to_state: nn.Linear, layers: int,
               hidden: int) -> tuple[torch.Tensor, torch.Tensor]:
    """An LSTM's initial (h, c), each [layers, batch, hidden], as tanh(linear(vector)) (Magenta's
    initial_cell_state_from_embedding)."""
    state = torch.tanh(to_state(vector)).view(len(vector), 2, layers, hidden).permute(1, 2, 0, 3)
    return state[0].contiguous(), state[1].contiguous()


# -- parts -----------------------------------------------------------------------------------------

class TrackEmbedding(nn.Module):
    """One embedding table per track; a step's embeddings concatenated: [..., tracks] -> [..., tracks * size]."""

    def __init__(self, class_counts: list[int], size: int):
        super().__init__()
        self.tables = nn.ModuleList(nn.Embedding(count, size) for count in class_counts)

    def forward(self, classes: torch.Tensor) -> torch.Tensor:
        return torch.cat([table(classes[..., track]) for track, table in enumerate(self.tables)], dim=-1)


class PhraseEncoder(nn.Module):
    """The posterior q(z | phrase): a bidirectional LSTM over the embedded steps, its last layer's
    final forward and backward states -> mu, and -> softplus -> sigma."""

    def __init__(self, class_counts: list[int], embedding_size: int, size: int, layers: int, z_size: int,
                 dropout: float):
        super().__init__()
        self.embed = TrackEmbedding(class_counts, embedding_size)
        self.lstm = nn.LSTM(len(class_counts) * embedding_size, size, layers, batch_first=True,
                            bidirectional=True, dropout=dropout if layers > 1 else 0.0)
        self.to_mu = nn.Linear(2 * size, z_size)
        self.to_sigma = nn.Linear(2 * size, z_size)
        for layer in (self.to_mu, self.to_sigma):  # Magenta's initializer: q starts near N(0, softplus(0)^2)
            nn.init.normal_(layer.weight, std=0.001)
            nn.init.zeros_(layer.bias)

    def forward(self, phrases: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, (final, _) = self.lstm(self.embed(phrases))
        summary = torch.cat([final[-2], final[-1]], dim=-1)  # the last layer's forward and backward
        return self.to_mu(summary), F.softplus(self.to_sigma(summary))


class StepDecoder(nn.Module):
    """An LSTM that writes one or more tracks step by step from a conditioning vector (z, or a
    bar's conductor embedding): initial state tanh(linear(vector)); input at each step the vector
    and the embeddings of the previous step's classes (zeros at the first step); a head per track."""

    def __init__(self, condition_size: int, class_counts: list[int], embedding_size: int, size: int, layers: int,
                 dropout: float):
        super().__init__()
        self.size, self.layers = size, layers
        self.embed = TrackEmbedding(class_counts, embedding_size)
        self.to_state = nn.Linear(condition_size, 2 * layers * size)
        self.lstm = nn.LSTM(condition_size + len(class_counts) * embedding_size, size, layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleList(nn.Linear(size, count) for count in class_counts)

    def teacher_forced(self, condition: torch.Tensor, classes: torch.Tensor) -> list[torch.Tensor]:
        """Logits per track [rows, steps, classes_t] of classes [rows, steps, tracks], each step
        seeing the true classes before it."""
        previous = F.pad(self.embed(classes[:, :-1]), (0, 0, 1, 0))  # shifted one step right, zeros first
        steps = classes.shape[1]
        inputs = torch.cat([condition[:, None].expand(-1, steps, -1), previous], dim=-1)
        output, _ = self.lstm(inputs, state_from(condition, self.to_state, self.layers, self.size))
        output = self.dropout(output)
        return [head(output) for head in self.heads]

    def free_running(self, condition: torch.Tensor, steps: int, choose) -> torch.Tensor:
        """Classes [rows, steps, tracks], each step's chosen classes (`choose(logits)`) fed back."""
        state = state_from(condition, self.to_state, self.layers, self.size)
        previous = condition.new_zeros(len(condition), 1, self.lstm.input_size - condition.shape[1])
        written = []
        for _ in range(steps):
            output, state = self.lstm(torch.cat([condition[:, None], previous], dim=-1), state)
            classes = torch.stack([choose(head(output[:, 0])) for head in self.heads], dim=-1)
            written.append(classes)
            previous = self.embed(classes[:, None])
        return torch.stack(written, dim=1)


class Conductor(nn.Module):
    """The hierarchical decoder's top level: an LSTM from tanh(linear(z)) over `bars` steps of
    zero input, its outputs the bars' embeddings [batch, bars, size]."""

    def __init__(self, z_size: int, size: int, layers: int, dropout: float):
        super().__init__()
        self.size, self.layers = size, layers
        self.to_state = nn.Linear(z_size, 2 * layers * size)
        self.lstm = nn.LSTM(1, size, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)

    def forward(self, z: torch.Tensor, bars: int) -> torch.Tensor:
        output, _ = self.lstm(z.new_zeros(len(z), bars, 1), state_from(z, self.to_state, self.layers, self.size))
        return output


# -- the model -------------------------------------------------------------------------------------

class MusicVAE(nn.Module):
    """MusicVAE over phrases of `steps` steps in `bars` bars, one class per step of each track
    (`class_counts`: [90] melody, [512] drums, [90, 90, 512] trio); `hierarchical` picks the
    conductor decoder. See the module docstring."""

    def __init__(self, class_counts: list[int], steps: int, bars: int, hierarchical: bool = False,
                 z_size: int = DEFAULTS["z_size"], encoder_size: int = DEFAULTS["encoder_size"],
                 encoder_layers: int = DEFAULTS["encoder_layers"], decoder_size: int = DEFAULTS["decoder_size"],
                 decoder_layers: int = DEFAULTS["decoder_layers"], conductor_size: int = DEFAULTS["conductor_size"],
                 conductor_layers: int = DEFAULTS["conductor_layers"],
                 embedding_size: int = DEFAULTS["embedding_size"], dropout: float = DEFAULTS["dropout"]):
        super().__init__()
        if bars < 1 or steps < bars or steps % bars:
            raise UserError(f"MusicVAE needs phrases whose {steps} steps make {bars} whole bars; "
                            f"give steps as a multiple of bars")
        self.class_counts, self.steps, self.bars = list(class_counts), steps, bars
        self.steps_per_bar, self.hierarchical, self.z_size = steps // bars, hierarchical, z_size
        self.encoder = PhraseEncoder(self.class_counts, embedding_size, encoder_size, encoder_layers, z_size, dropout)
        if hierarchical:
            self.conductor = Conductor(z_size, conductor_size, conductor_layers, dropout)
            self.decoders = nn.ModuleList(
                StepDecoder(conductor_size, [count], embedding_size, decoder_size, decoder_layers, dropout)
                for count in self.class_counts)
        else:
            self.conductor = None
            self.decoders = nn.ModuleList(
                [StepDecoder(z_size, self.class_counts, embedding_size, decoder_size, decoder_layers, dropout)])

    @property
    def tracks(self) -> int:
        return len(self.class_counts)

    def check(self, phrases: torch.Tensor) -> None:
        if phrases.dim() != 3 or tuple(phrases.shape[1:]) != (self.steps, self.tracks):
            raise ValueError(f"MusicVAE takes phrases [batch, {self.steps}, {self.tracks}], got {list(phrases.shape)}")

    def encode(self, phrases: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The posterior of each phrase [batch, steps, tracks]: (mu, sigma), each [batch, z_size]."""
        self.check(phrases)
        return self.encoder(phrases)

    def reconstruction(self, phrases: torch.Tensor, z: torch.Tensor) -> list[torch.Tensor]:
        """Teacher-forced logits of the phrases given z [batch, z_size]: one [batch, steps,
        classes_t] per track; step s sees the true classes before it (of its bar, if hierarchical)."""
        self.check(phrases)
        if not self.hierarchical:
            return self.decoders[0].teacher_forced(z, phrases)
        batch = len(phrases)
        conditions = self.conductor(z, self.bars).reshape(batch * self.bars, -1)
        bars = phrases.reshape(batch * self.bars, self.steps_per_bar, self.tracks)  # every bar a row
        return [decoder.teacher_forced(conditions, bars[..., track:track + 1])[0].reshape(batch, self.steps, -1)
                for track, decoder in enumerate(self.decoders)]

    def loss_terms(self, phrases: torch.Tensor) -> dict[str, torch.Tensor]:
        """The ELBO's terms per phrase, each [batch]: "nll", the reconstruction's negative log
        likelihood in nats summed over steps and tracks; "kl", KL(q(z | phrase) || N(0, I)) in nats
        (analytic); "accuracy", the teacher-forced share of steps whose every track's likeliest
        class is right. z is drawn from q (reparameterized) in training mode, and is mu in eval mode."""
        mu, sigma = self.encode(phrases)
        z = mu + sigma * torch.randn_like(mu) if self.training else mu
        logits = self.reconstruction(phrases, z)
        nll = sum(F.cross_entropy(track_logits.transpose(1, 2), phrases[..., track], reduction="none").sum(1)
                  for track, track_logits in enumerate(logits))
        right = torch.stack([track_logits.argmax(-1) == phrases[..., track]
                             for track, track_logits in enumerate(logits)], dim=-1).all(-1)
        return {"nll": nll, "kl": gaussian_kl(mu, sigma).sum(-1), "accuracy": right.float().mean(1)}

    def forward(self, phrases: torch.Tensor) -> dict[str, torch.Tensor]:
        """`loss_terms` (so that DistributedDataParallel sees the whole step as forward)."""
        return self.loss_terms(phrases)

    def kl_per_dimension(self, phrases: torch.Tensor) -> torch.Tensor:
        """KL(q(z | phrase) || N(0, I)) of each latent dimension [batch, z_size], in nats (to
        count the active dimensions)."""
        return gaussian_kl(*self.encode(phrases))

    @torch.no_grad()
    def decode(self, z: torch.Tensor, temperature: float = 1.0, generator: torch.Generator | None = None,
               argmax: bool = False) -> torch.Tensor:
        """Phrases [batch, steps, tracks] (int64) written freely from z [batch, z_size]: each step's
        classes drawn from softmax(logits / temperature) with `generator` (the likeliest with
        `argmax`) and fed back. Call in eval mode (dropout)."""
        choose = partial(choose_classes, temperature=temperature, generator=generator, argmax=argmax)
        if not self.hierarchical:
            return self.decoders[0].free_running(z, self.steps, choose)
        batch = len(z)
        conditions = self.conductor(z, self.bars).reshape(batch * self.bars, -1)
        tracks = [decoder.free_running(conditions, self.steps_per_bar, choose) for decoder in self.decoders]
        return torch.cat(tracks, dim=-1).reshape(batch, self.steps, self.tracks)

    @torch.no_grad()
    def sample_prior(self, count: int, temperature: float = 1.0,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """`count` new phrases: z ~ N(0, I) drawn with `generator`, then `decode`d."""
        device = next(self.parameters()).device
        draw_on = generator.device if generator is not None else device
        z = torch.randn(count, self.z_size, generator=generator, device=draw_on).to(device)
        return self.decode(z, temperature=temperature, generator=generator)
