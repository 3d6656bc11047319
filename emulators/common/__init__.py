"""Pieces every stand-in shares: a small persistent record store and a threaded HTTP server."""
