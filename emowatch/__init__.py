"""emowatch: what emotion a photo evokes, why, written into its metadata."""

__version__ = "0.1.0"
