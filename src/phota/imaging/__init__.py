"""Image inputs and outputs: decode and validate uploads, fetch URL inputs safely, encode outputs."""
