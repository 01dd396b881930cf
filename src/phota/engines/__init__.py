"""Base-model engines: one adapter per base model, the test-mode emulator, the capability table."""
