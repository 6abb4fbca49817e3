"""voicecoach: an offline, hands-free voice coach for physiotherapy-style exercise."""

__version__ = "0.1.0"
