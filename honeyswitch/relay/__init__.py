"""asyncio edge: listeners, backend connections and the executor of core commands."""
