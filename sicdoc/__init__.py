"""sicdoc: document and measure serious illness conversations."""

__version__ = "0.1.0"
