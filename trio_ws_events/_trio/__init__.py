"""The Trio driver: opens the byte stream, moves bytes, runs handlers; _sansio decides."""
