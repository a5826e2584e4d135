"""Speaker-independent training: splits, metrics, run folders, the trainer, sweeps."""
