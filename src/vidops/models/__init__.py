"""Models: the networks and heads, one factory that builds them, and the model folder.

Every architecture named in ``vidops.architectures`` is built by ``factory.build_model``;
``artifact`` writes and reads ``artifacts/model/`` (weights, ``model.json``, run id), which
is all serving needs to turn decoded frames into probabilities.
"""
