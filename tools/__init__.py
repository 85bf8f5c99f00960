"""The template's own tooling, shared by its tests and the benchmark."""
