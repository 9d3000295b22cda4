"""The WebSocket protocol without I/O: nothing in this package imports trio."""
