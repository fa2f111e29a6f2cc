"""Generators: how a trained model makes new material from a request. The autoregressive one
(any model with a stepper: strategies, beam search, primers, batches, streaming) and the latent one
(a VAE: the prior, encoding, interpolation)."""
