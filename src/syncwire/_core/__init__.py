"""The manager's Sans-I/O core: states, transition table, backoff policy, machine.

Private: the public API is ``syncwire.WebSocketManager``; tests and the docs
generator import from here directly.
"""
