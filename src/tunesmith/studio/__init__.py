"""The studio: a local web app (`tunesmith studio`) that generates, continues, interpolates, mixes
and renders through the library API, plays and draws the results, and plots runs' loss curves."""
