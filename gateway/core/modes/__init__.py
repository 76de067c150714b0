"""One module per mode; ``gateway.core.orchestrator`` picks one and performs the hand-over."""
