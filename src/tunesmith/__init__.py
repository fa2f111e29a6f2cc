"""tunesmith: train generative models on your own lyrics, MIDI and recordings, and sample from them."""

__version__ = "0.1.0"
