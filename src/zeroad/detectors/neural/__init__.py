"""Neural detectors: one training loop (:mod:`.training`), activations, and the models."""
