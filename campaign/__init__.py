"""campaign: plan, preview, approve, publish and measure police social media campaigns."""

__version__ = "0.1.0"
