"""Everything that runs the small model on the device: model files, the llama.cpp engine, its worker."""
