"""Per-clip features for the feature-based model families: pretrained appearance, optical flow, a cache."""
