"""The product's version, recorded in every artifact's lineage."""

__version__ = "0.1.0"
