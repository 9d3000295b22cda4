"""Fault injection: killed servers, resets, stalled readers, stalled handshakes and closes."""
