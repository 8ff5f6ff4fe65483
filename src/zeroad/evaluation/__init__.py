"""Evaluation: metrics, benchmark tasks, how to run them (backends), where rows go (store)."""
