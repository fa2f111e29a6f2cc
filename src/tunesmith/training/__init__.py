"""Training: the one loop for every model (trainer.py), its data windows and its process group."""
