"""Zero-shot AutoML: tuning with labels offline, portfolios, and AutoDetector for new data."""
