"""nasxfer: neural architecture search with transfer learning for image classifiers.

The package is import-light on purpose: importing ``nasxfer`` does not import torch,
so that commands that do not train (``validate``, ``report``, ``runs``) start fast.
"""

__version__ = "0.1.0"
