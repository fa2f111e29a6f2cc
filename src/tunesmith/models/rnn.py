"""Recurrent language model (char-rnn and the Magenta-style event RNNs): embedding, a stack of
LSTM/GRU/RNN layers, a linear head; its stepper carries the recurrent state.

For grid codecs with one token per step (melody), the model can also see, as Magenta's Lookback
RNN does, the tokens some steps back (`lags`: a bar or two ago, where a tune repeats itself) and
the position since the piece's START modulo `period` (where in the bar it is). Both come from the
tokens alone, so they cost the data pipeline nothing; the state then carries the last max(lags)
tokens and the count since START across windows and generation steps."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class RNNLanguageModel(nn.Module):
    def __init__(self, vocab_size: int, embedding_size: int, hidden_size: int, layers: int,
                 cell: str = "lstm", dropout: float = 0.0, lags: tuple[int, ...] = (), period: int = 0,
                 start_token: int | None = None):
        super().__init__()
        if (lags or period) and start_token is None:
            raise ValueError("lags and period count from a start token")
        self.lags, self.period, self.start_token = tuple(lags), period, start_token
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        # one table per lag; id vocab_size: no token that far back in this piece
        self.lag_embeddings = nn.ModuleList(nn.Embedding(vocab_size + 1, embedding_size) for _ in self.lags)
        self.position_embedding = nn.Embedding(period, embedding_size) if period else None
        inputs = embedding_size * (1 + len(self.lags) + bool(period))
        self.rnn = CELLS[cell](inputs, hidden_size, num_layers=layers, batch_first=True,
                               dropout=dropout if layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    @property
    def looks_back(self) -> bool:
        return bool(self.lags or self.period)

    def inputs(self, tokens: torch.Tensor, state) -> tuple[torch.Tensor, object, tuple | None]:
        """The RNN's inputs [batch, time, features] for tokens [batch, time], the recurrent part
        of `state`, and the new (history, count) when the model looks back: history [batch,
        max(lags)] the last tokens, count [batch] the tokens since the last START."""
        embedded = self.embedding(tokens)
        if not self.looks_back:
            return embedded, state, None
        batch, time = tokens.shape
        span = max(self.lags, default=0)
        if state is None:
            recurrent = None
            history = tokens.new_full((batch, span), self.embedding.num_embeddings)
            count = tokens.new_zeros(batch)
        else:
            recurrent, history, count = state
        steps = torch.arange(time, device=tokens.device)
        last_start = torch.where(tokens == self.start_token, steps, -1).cummax(dim=1).values
        position = torch.where(last_start >= 0, steps - last_start, count[:, None] + steps)  # tokens since START
        seen = torch.cat([history, tokens], dim=1)
        parts = [embedded]
        for lag, table in zip(self.lags, self.lag_embeddings):
            back = seen[:, span - lag:span - lag + time]
            parts.append(table(torch.where(position >= lag, back, self.embedding.num_embeddings)))
        if self.period:
            parts.append(self.position_embedding(position % self.period))
        return torch.cat(parts, dim=-1), recurrent, (seen[:, seen.size(1) - span:], position[:, -1] + 1)

    def forward(self, tokens: torch.Tensor, state=None):
        """Next-token logits [batch, time, vocab] for tokens [batch, time], and the new state."""
        x, recurrent, looked = self.inputs(tokens, state)
        hidden, recurrent = self.rnn(x, recurrent)
        return self.head(self.dropout(hidden)), recurrent if looked is None else (recurrent, *looked)

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Mean cross-entropy in nats per token of a batch of (inputs, targets) [batch, time]."""
        inputs, targets = batch
        logits, _ = self(inputs)
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))

    def loss_with_state(self, batch: tuple[torch.Tensor, torch.Tensor], state=None):
        """Truncated backpropagation through time: the loss of a window that starts from `state`
        (None: zeros) and the detached state to start the next window of the same rows from."""
        inputs, targets = batch
        logits, state = self(inputs, state)
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1)), detach(state)

    def stepper(self, batch_size: int) -> RNNStepper:
        return RNNStepper(self, batch_size)


class RNNStepper:
    """Incremental generation: holds the recurrent state of `batch_size` sequences. One token at a
    time it runs the cell equations directly, which on a CPU is about three times faster than a
    call of the fused nn.LSTM/GRU/RNN module for a sequence of length one."""

    def __init__(self, model: RNNLanguageModel, batch_size: int):
        self.model = model
        self.batch_size = batch_size
        self.state = None

    @torch.no_grad()
    def feed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Consume tokens [batch, time] (a primer, or one new token each) and return the logits
        [batch, vocab] for the token that follows them."""
        if tokens.size(1) == 1 and self.state is not None and not self.model.training:
            return self._step(tokens[:, 0])
        logits, self.state = self.model(tokens, self.state)
        return logits[:, -1]

    def reorder(self, rows: torch.Tensor) -> None:
        """Keep (and duplicate) the given batch rows of the state, for beam search."""
        if self.state is None:
            return
        recurrent, looked = (self.state[0], self.state[1:]) if self.model.looks_back else (self.state, ())
        if isinstance(recurrent, tuple):
            recurrent = tuple(part.index_select(1, rows) for part in recurrent)
        else:
            recurrent = recurrent.index_select(1, rows)
        looked = tuple(part.index_select(0, rows) for part in looked)
        self.state = (recurrent, *looked) if self.model.looks_back else recurrent

    def _step(self, token: torch.Tensor) -> torch.Tensor:
        rnn = self.model.rnn
        lstm = isinstance(rnn, nn.LSTM)
        x, recurrent, looked = self.model.inputs(token[:, None], self.state)
        x = x[:, 0]
        hidden, cells = recurrent if lstm else (recurrent, None)
        new_hidden, new_cells = [], []
        for layer in range(rnn.num_layers):
            gates_x = F.linear(x, getattr(rnn, f"weight_ih_l{layer}"), getattr(rnn, f"bias_ih_l{layer}"))
            gates_h = F.linear(hidden[layer], getattr(rnn, f"weight_hh_l{layer}"), getattr(rnn, f"bias_hh_l{layer}"))
            if lstm:
                i, f, g, o = (gates_x + gates_h).chunk(4, -1)
                cell = torch.sigmoid(f) * cells[layer] + torch.sigmoid(i) * torch.tanh(g)
                x = torch.sigmoid(o) * torch.tanh(cell)
                new_cells.append(cell)
            elif isinstance(rnn, nn.GRU):
                x_r, x_z, x_n = gates_x.chunk(3, -1)
                h_r, h_z, h_n = gates_h.chunk(3, -1)
                reset, update = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
                x = (1 - update) * torch.tanh(x_n + reset * h_n) + update * hidden[layer]
            else:
                x = torch.tanh(gates_x + gates_h)
            new_hidden.append(x)
        recurrent = (torch.stack(new_hidden), torch.stack(new_cells)) if lstm else torch.stack(new_hidden)
        self.state = recurrent if looked is None else (recurrent, *looked)
        return self.model.head(x)


def detach(state):
    """A (nested) state with its float tensors cut from the graph."""
    if isinstance(state, tuple):
        return tuple(detach(part) for part in state)
    return state.detach() if state is not None else None
