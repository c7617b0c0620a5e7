"""Video: decoding clips to exactly the sampled frames.

Owns the clip types (probe, sampled clip, decode error), the decode front end that picks
a backend (PyAV, OpenCV), frame-index sampling and the resize transforms. Knows nothing
of records, models or tracking.
"""
