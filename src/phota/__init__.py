"""phota: a self-hostable server implementing the Phota API."""

__version__ = "0.1.0"
API_VERSION = "v0.7.0"
