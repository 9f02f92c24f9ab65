"""The demo county (演示县): a deterministic county modelled on the seed documents, for trying and benchmarking."""
