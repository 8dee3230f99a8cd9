"""Persistence: metadata through SQLAlchemy, artifacts in a folder."""

from synth.store.artifacts import ArtifactStore
from synth.store.metadata import MetadataStore

__all__ = ["ArtifactStore", "MetadataStore"]
