"""Tandem's device-side gateway: an OpenAI-compatible server over a device and a cloud model."""
