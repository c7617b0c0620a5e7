"""Training: turn usable clips into fitted weights.

Owns the fit entry point and its results, the one neural epoch loop, the feature-family
heads, architecture selection (``model.arch: auto``), the torch dataset, augmentation,
per-epoch checkpoints, device choice and DDP plumbing. Reports per-epoch figures through
a tracker it is given (the stage passes MLflow's); never imports MLflow itself.
"""
