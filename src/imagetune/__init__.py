"""imagetune: a self-hosted image upscaling service."""

__version__ = "0.1.0"
