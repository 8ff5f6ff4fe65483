"""Neural detectors: one training loop (:mod:`.training`), activations, and the models."""

# The scoring engines of the neural detectors (see .engines); here, without importing
# torch, for the command line's choices.
SCORING_ENGINES = ("auto", "eager", "threads", "onnxruntime")
