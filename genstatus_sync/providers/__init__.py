"""One thin client per provider: URL, auth header, parsing and normalization."""
