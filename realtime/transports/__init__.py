"""Transports: move frames between HTTP or WebSockets and a Connection."""
