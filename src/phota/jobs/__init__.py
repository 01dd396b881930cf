"""Durable job queue: profile training and async studio requests."""
