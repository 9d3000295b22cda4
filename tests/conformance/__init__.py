"""RFC 6455 / RFC 7692 client conformance, played by a raw-frame server (issue 6)."""
