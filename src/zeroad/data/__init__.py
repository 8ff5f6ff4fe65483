"""Datasets: specs, readers, and the one-class evaluation protocol."""
