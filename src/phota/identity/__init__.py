"""Identity layer: face analysis, profile training, recognition, prompt references."""
