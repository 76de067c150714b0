"""A llama.cpp-backed stand-in for the cloud, speaking the subset of vLLM's OpenAI API the gateway uses."""
