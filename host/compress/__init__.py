"""Compression: techniques that turn a model into variants, and the variant cache."""
