"""synth: differentially private synthetic tables as a service."""

__version__ = "0.1.0"
