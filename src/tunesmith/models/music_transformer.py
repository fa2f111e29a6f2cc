"""Music Transformer (Huang et al. 2018, "Music Transformer: Generating Music with Long-Term
Structure"): a decoder-only transformer whose self-attention sees relative distances, not absolute
positions; and its stepper, a key/value cache per layer that slides on past the training window.

The model, top to bottom:

    tokens -> embedding * sqrt(d_model) -> dropout
           -> layers x [x + attention(LayerNorm(x)); x + feed_forward(LayerNorm(x))]   (pre-LayerNorm)
           -> LayerNorm -> linear head (its weight tied to the embedding when tie_embeddings)

There is no absolute position embedding at all: order enters only through the causal mask and the
relative logits, which is what lets a cached key/value stay valid when the window slides.

Relative attention. Each layer learns relative embeddings E_r, one table per head (as in the
paper: "learned separately for each head"; stored transposed, [heads, head_dim, max_relative]),
for the distances 0 .. max_relative-1 between a query and an earlier key; longer distances use the
last one (clipped).
Query i and key j <= i get the logit

    (q_i . k_j + q_i . E_r[i - j]) / sqrt(head_dim)

The relative term S_rel is computed with the paper's "skewing": multiply the queries by the
embeddings ordered from the longest distance down to 0 (Q E_r^T, [queries, keys]), pad one column
on the left, reshape and slice, which moves each row into place; so the relative logits take the
same O(L^2) memory as Q K^T, plus the O(L D) table, and the [L, L, D] tensor of gathered embeddings
that Shaw et al. build is never made. `local_window` N > 0 limits every query to the last N
positions (itself included) — local attention as a band of the causal mask.

Generation past the window. The stepper caches each layer's keys and values. A primer goes
through the layers at once (in chunks of W tokens); then a step embeds one token, and per layer does
the q/k/v projection, two products against the cached keys (content and relative), one against the
cached values, the output projection and the feed-forward: O(W) work for W cached tokens, never a
re-run of the prefix. The window W is `local_window`, or
`max_relative` for full attention. When the cache holds W tokens it slides: the keys/values of the
last W-1 tokens are kept and generation goes on. They carry no absolute position, so the kept ones
mean the same thing after the slide; the new token meets them at the same relative distances as
before. (The cache is a buffer of 2W rows, compacted to its last W-1 rows when it fills, so the
slide costs O(1) per token amortized.)

What that guarantees, exactly (tested):
  * with `local_window` N > 0 the stepper's logits equal the model's own forward over the whole
    sequence, at any length (a query never looks further back than N anyway);
  * with full attention they equal the forward over the whole sequence for the first
    `max_relative` tokens, and past them they equal the forward over the whole sequence with
    attention limited to the last `max_relative` positions (`forward(tokens,
    window=max_relative)`): each query attends to the last W positions, whose cached keys and
    values were themselves computed that way. For a one-layer model that is the same as running
    the model on the last `max_relative` tokens alone. In a deeper model the kept keys/values of
    the upper layers also summarise tokens that have left the window (the receptive field grows
    by W per layer, as in Transformer-XL), so it is not a crop of the input: it is cheaper
    (no re-encoding) and sees further.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# The default Music Transformer (the music-transformer recipe's defaults): trains usefully on a CPU
# in minutes (about 6,000 tokens/s on two cores) and generates with the cache far faster than it
# re-runs (benchmarks/transformer_generation.py). No dropout by default: on a CPU it costs a fifth
# of a training step, and short runs do not overfit. The GELU is GPT-2's tanh approximation (a third
# of the exact one's cost on a CPU).
DEFAULTS = dict(d_model=192, layers=4, heads=6, d_ff=768, max_relative=256, dropout=0.0,
                local_window=0, tie_embeddings=True)

ACTIVATIONS = {"gelu": lambda: nn.GELU(approximate="tanh"), "relu": nn.ReLU}


# -- relative attention ----------------------------------------------------------------------------

def skew(relative_logits: torch.Tensor) -> torch.Tensor:
    """Relative logits [..., t, K] of t queries against the embeddings of distances K-1 .. 0 (column
    m is distance K-1-m) -> logits [..., t, K] against the K keys, the t queries being the last t
    positions: out[i, j] = in[i, j + (t-1-i)], the embedding of distance (K-t+i) - j. Entries with
    j after the query are left over from the padding and must be masked. Pad one column on the left,
    flatten, drop the first t values, read back as [t, K]: one copy, no gather. (One query, the
    last position, is already in place.)"""
    *batch, t, keys = relative_logits.shape
    if t == 1:
        return relative_logits
    padded = F.pad(relative_logits, (1, 0))  # [..., t, K+1]
    return padded.reshape(*batch, t * (keys + 1))[..., t:].reshape(*batch, t, keys)


def allowed_keys(queries: int, keys: int, window: int, device: torch.device) -> torch.Tensor:
    """Boolean [queries, keys]: which keys each query may attend to. The queries are the last
    `queries` of the `keys` positions; a query sees itself and earlier keys, and with window N > 0
    only the last N of them."""
    distance = (torch.arange(keys - queries, keys, device=device)[:, None]
                - torch.arange(keys, device=device)[None, :])
    allowed = distance >= 0
    if window > 0:
        allowed &= distance < window
    return allowed


class RelativeSelfAttention(nn.Module):
    def __init__(self, d_model: int, heads: int, max_relative: int, dropout: float):
        super().__init__()
        assert d_model % heads == 0, "d_model must be a multiple of heads"
        self.heads, self.head_dim, self.max_relative = heads, d_model // heads, max_relative
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        # E_r^T: column m holds distance max_relative-1-m (the paper's order, longest distance
        # first), stored transposed [heads, head_dim, distances] so that a slice of the last
        # columns is ready for q @ E_r^T.
        self.relative = nn.Parameter(torch.randn(heads, self.head_dim, max_relative) * 0.02)
        self.dropout = nn.Dropout(dropout)

    def relative_embeddings(self, keys: int) -> torch.Tensor:
        """E_r^T [heads, head_dim, keys] for the distances keys-1 .. 0, those past max_relative-1
        clipped to the last learned one."""
        if keys <= self.max_relative:
            return self.relative[..., self.max_relative - keys:]
        clipped = self.relative[..., :1].expand(-1, -1, keys - self.max_relative)
        return torch.cat([clipped, self.relative], dim=-1)

    def relative_logits(self, q: torch.Tensor, keys: int) -> torch.Tensor:
        """S_rel [batch, heads, t, keys] of queries [batch, heads, t, head_dim]: Q E_r^T, skewed.
        One matmul per head, with every batch row and query of that head at once."""
        batch, heads, t, head_dim = q.shape
        per_head = q.transpose(0, 1).reshape(heads, batch * t, head_dim) @ self.relative_embeddings(keys)
        return skew(per_head.view(heads, batch, t, keys).transpose(0, 1))

    def forward(self, x: torch.Tensor, window: int, cache: KeyValueCache | None = None) -> torch.Tensor:
        """x [batch, t, d_model] -> [batch, t, d_model]. With a cache, x holds the t tokens after
        the cached ones: their keys/values join the cache and they attend to it as well."""
        batch, t, d_model = x.shape
        q, k, v = self.qkv(x).view(batch, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        # q, k, v: [batch, heads, t, head_dim] each
        q = q * (1.0 / math.sqrt(self.head_dim))  # (Q K^T + Q E_r^T) / sqrt(d): scale Q once
        k_t = k.transpose(-2, -1)  # [batch, heads, head_dim, t]
        if cache is not None:
            k_t, v = cache.extend(k_t, v)  # the cached keys/values joined by the new ones
        keys = k_t.size(-1)
        logits = q @ k_t  # [batch, heads, t, keys]
        logits += self.relative_logits(q, keys)  # in place: one [batch, heads, t, keys] fewer
        if t > 1 or (window > 0 and keys > window):
            logits.masked_fill_(~allowed_keys(t, keys, window, x.device), float("-inf"))
        weights = self.dropout(logits.softmax(dim=-1))
        heads_out = (weights @ v).transpose(1, 2).reshape(batch, t, d_model)
        return self.out(heads_out)


class KeyValueCache:
    """One layer's keys and values for a batch of sequences, sliding: only the last window-1
    tokens are ever needed again. They live in buffers of 2*window positions (keys transposed,
    [batch, heads, head_dim, positions], so that q @ K^T reads a plain slice); when a feed would
    overflow them, the last window-1 positions move to the front."""

    def __init__(self, window: int):
        self.window = window
        self.keys_t: torch.Tensor | None = None  # [batch, heads, head_dim, 2*window]
        self.values: torch.Tensor | None = None  # [batch, heads, 2*window, head_dim]
        self.length = 0  # positions in use

    def extend(self, new_keys_t: torch.Tensor, new_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append t <= window tokens' keys^T [batch, heads, head_dim, t] and values [batch, heads,
        t, head_dim]; return views of the keys^T and values the new queries need: the last
        window-1 before them, and themselves."""
        t = new_values.size(-2)
        assert t <= self.window, "feed at most `window` tokens per call to extend"
        if self.keys_t is None:
            batch, heads, _, head_dim = new_values.shape
            self.keys_t = new_keys_t.new_empty(batch, heads, head_dim, 2 * self.window)
            self.values = new_values.new_empty(batch, heads, 2 * self.window, head_dim)
        if self.length + t > 2 * self.window:  # slide: keep the last window-1 tokens
            kept, keep = self.length - (self.window - 1), self.window - 1
            self.keys_t[..., :keep] = self.keys_t[..., kept:self.length].clone()
            self.values[..., :keep, :] = self.values[..., kept:self.length, :].clone()
            self.length = keep
        self.keys_t[..., self.length:self.length + t] = new_keys_t
        self.values[..., self.length:self.length + t, :] = new_values
        self.length += t
        start = max(0, self.length - t - (self.window - 1))
        return self.keys_t[..., start:self.length], self.values[..., start:self.length, :]

    def reorder(self, indices: torch.Tensor) -> None:
        if self.keys_t is not None:
            self.keys_t = self.keys_t.index_select(0, indices)
            self.values = self.values.index_select(0, indices)


# -- the transformer -------------------------------------------------------------------------------

class Block(nn.Module):
    """Pre-LayerNorm transformer block: relative self-attention, then the feed-forward."""

    def __init__(self, d_model: int, heads: int, d_ff: int, max_relative: int, dropout: float,
                 activation: str):
        super().__init__()
        self.attention_norm = nn.LayerNorm(d_model)
        self.attention = RelativeSelfAttention(d_model, heads, max_relative, dropout)
        self.feed_forward_norm = nn.LayerNorm(d_model)
        self.feed_forward = nn.Sequential(nn.Linear(d_model, d_ff), ACTIVATIONS[activation](),
                                          nn.Linear(d_ff, d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, window: int, cache: KeyValueCache | None = None) -> torch.Tensor:
        x = x + self.dropout(self.attention(self.attention_norm(x), window, cache))
        return x + self.dropout(self.feed_forward(self.feed_forward_norm(x)))


class MusicTransformer(nn.Module):
    def __init__(self, vocab_size: int, d_model: int = DEFAULTS["d_model"], layers: int = DEFAULTS["layers"],
                 heads: int = DEFAULTS["heads"], d_ff: int = DEFAULTS["d_ff"],
                 max_relative: int = DEFAULTS["max_relative"], dropout: float = DEFAULTS["dropout"],
                 local_window: int = DEFAULTS["local_window"],
                 tie_embeddings: bool = DEFAULTS["tie_embeddings"], activation: str = "gelu"):
        super().__init__()
        if local_window < 0:
            raise ValueError("local_window must be 0 (full causal attention) or a positive window")
        self.d_model, self.max_relative, self.local_window = d_model, max_relative, local_window
        self.embedding = nn.Embedding(vocab_size, d_model)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(d_model, heads, d_ff, max_relative, dropout, activation)
                                    for _ in range(layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        if tie_embeddings:
            self.head.weight = self.embedding.weight
        self.apply(self._init_weights)
        for block in self.blocks:  # GPT-2: residual branches scaled down by depth
            for projection in (block.attention.out, block.feed_forward[-1]):
                nn.init.normal_(projection.weight, std=0.02 / math.sqrt(2 * layers))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def hidden(self, tokens: torch.Tensor, window: int | None = None,
               caches: list[KeyValueCache] | None = None) -> torch.Tensor:
        """The final normalised states [batch, time, d_model] of tokens [batch, time]. `window`:
        attend to at most the last `window` positions (None: the model's local_window; 0: all)."""
        window = self.local_window if window is None else window
        x = self.dropout(self.embedding(tokens) * math.sqrt(self.d_model))
        for i, block in enumerate(self.blocks):
            x = block(x, window, caches[i] if caches is not None else None)
        return self.norm(x)

    def forward(self, tokens: torch.Tensor, window: int | None = None) -> torch.Tensor:
        """Next-token logits [batch, time, vocab] for tokens [batch, time]."""
        return self.head(self.hidden(tokens, window))

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Mean cross-entropy in nats per token of a batch of (inputs, targets) [batch, time]."""
        inputs, targets = batch
        logits = self(inputs)
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))

    def stepper(self, batch_size: int) -> MusicTransformerStepper:
        return MusicTransformerStepper(self, batch_size)


class MusicTransformerStepper:
    """Incremental generation for `batch_size` sequences with a key/value cache per layer, sliding
    past the window (see the module docstring for what that equals)."""

    def __init__(self, model: MusicTransformer, batch_size: int):
        self.model = model
        self.batch_size = batch_size
        self.window = model.local_window or model.max_relative
        self.caches = [KeyValueCache(self.window) for _ in model.blocks]
        self.position = 0  # tokens consumed so far

    def feed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Consume tokens [batch, time] (a primer of any length, then one new token each) and
        return the logits [batch, vocab] of the token that follows them."""
        if tokens.size(1) == 0:
            raise ValueError("feed needs at least one token")
        with torch.inference_mode():  # lighter than no_grad: about a tenth of a step
            if tokens.size(1) == 1 and not self.model.training:
                logits = self._step(tokens[:, 0])
            else:
                for chunk in tokens.split(self.window, dim=1):
                    hidden = self.model.hidden(chunk, self.window, self.caches)
                logits = self.model.head(hidden[:, -1])
        self.position += tokens.size(1)
        return logits.clone()  # an ordinary tensor, which the caller may change in place

    def _step(self, token: torch.Tensor) -> torch.Tensor:
        """One new token [batch] through every layer: the same math as `hidden` with a cache, written
        out for a single query (it sits at the last position, so the skew is the identity and
        nothing needs masking); a third fewer operations, which is most of a step's time on a CPU."""
        model = self.model
        batch = token.size(0)
        x = model.embedding(token) * math.sqrt(model.d_model)  # [batch, d_model]
        for block, cache in zip(model.blocks, self.caches):
            attention = block.attention
            q, k, v = attention.qkv(block.attention_norm(x)).view(
                batch, 3, attention.heads, 1, attention.head_dim).unbind(1)  # [batch, heads, 1, head_dim]
            q = q * (1.0 / math.sqrt(attention.head_dim))
            keys_t, values = cache.extend(k.transpose(-2, -1), v)
            logits = q @ keys_t + q @ attention.relative_embeddings(keys_t.size(-1))  # [batch, heads, 1, keys]
            x = x + attention.out((logits.softmax(-1) @ values).view(batch, model.d_model))
            x = x + block.feed_forward(block.feed_forward_norm(x))
        return model.head(model.norm(x))

    @torch.inference_mode()
    def reorder(self, indices: torch.Tensor) -> None:
        """Keep the batch rows `indices` [new_batch] (repeats allowed) of the cache, in that order:
        beam search's reordering of its hypotheses."""
        for cache in self.caches:
            cache.reorder(indices)
        self.batch_size = indices.numel()
