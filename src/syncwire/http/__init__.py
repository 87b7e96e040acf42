"""The Convex HTTP API: one-shot calls without a socket (being built for issue #14)."""
