"""adapters/passport."""
