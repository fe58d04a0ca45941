"""What replicas share: the store (in memory, or Redis), budgets per caller, `/mcp` events, the cluster of replicas."""
