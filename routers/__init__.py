"""Model-free routing policies: privacy, confidence, network health, cost, and the auto policy."""
