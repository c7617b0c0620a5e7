"""Decoding, frame sampling and frame transforms, shared by extraction, training and serving."""
