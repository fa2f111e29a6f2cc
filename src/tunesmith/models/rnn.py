"""Recurrent language model (char-rnn and, later, the Magenta-style event RNNs): embedding,
a stack of LSTM/GRU/RNN layers, a linear head; its stepper carries the recurrent state."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class RNNLanguageModel(nn.Module):
    def __init__(self, vocab_size: int, embedding_size: int, hidden_size: int, layers: int,
                 cell: str = "lstm", dropout: float = 0.0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.rnn = CELLS[cell](embedding_size, hidden_size, num_layers=layers, batch_first=True,
                               dropout=dropout if layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, tokens: torch.Tensor, state=None):
        """Next-token logits [batch, time, vocab] for tokens [batch, time], and the new state."""
        hidden, state = self.rnn(self.embedding(tokens), state)
        return self.head(self.dropout(hidden)), state

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
        state = tuple(part.detach() for part in state) if isinstance(state, tuple) else state.detach()
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1)), state

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
        if isinstance(self.state, tuple):
            self.state = tuple(part.index_select(1, rows) for part in self.state)
        elif self.state is not None:
            self.state = self.state.index_select(1, rows)

    def _step(self, token: torch.Tensor) -> torch.Tensor:
        rnn = self.model.rnn
        lstm = isinstance(rnn, nn.LSTM)
        hidden, cells = self.state if lstm else (self.state, None)
        x = self.model.embedding(token)
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
        self.state = (torch.stack(new_hidden), torch.stack(new_cells)) if lstm else torch.stack(new_hidden)
        return self.model.head(x)
