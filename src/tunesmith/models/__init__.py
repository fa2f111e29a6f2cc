"""Models: nn.Modules with `loss(batch)` and, for autoregressive models, `stepper(batch_size)`."""
