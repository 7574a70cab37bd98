"""certseal: trusted electronic licenses and electronic signatures."""

__version__ = "0.1.0"
