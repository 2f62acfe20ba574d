"""Cached backbone features: compute once per (backbone, weights, preprocessing, data), reuse.

``cache`` stores and verifies them, ``extract`` computes them, ``loader`` batches them
for training a head, ``head_training`` is the fast path that ties these together. Never
decides which head to train: the training evaluator asks for features, the cache answers.
"""
