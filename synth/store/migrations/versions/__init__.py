"""Alembic revisions of the metadata schema, one file each, oldest first by number."""
