"""Servers the tests talk to: a scriptable raw-TCP server and a ``websockets`` subprocess."""
