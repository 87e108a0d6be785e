"""The asyncio sources of the connection and the pool (the blocking modules are generated)."""
