"""Evaluation: how good a model is, with its uncertainty, as figures and pictures.

Owns classification metrics (scikit-learn), bootstrap and posterior intervals, paired
differences for the gate, video-level scoring over several temporal views, and every plot
vidops draws (confusion matrix, training curves, model selection).
"""
