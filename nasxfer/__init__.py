"""nasxfer: neural architecture search with transfer learning for image classifiers.

The package is import-light on purpose: importing ``nasxfer`` does not import torch,
so that commands that do not train (``validate``, ``report``, ``runs``) start fast.
"""

__version__ = "0.1.0"


def load_model(run: str = "latest", runs_dir=None, trial=None, device: str = "cpu", trust_factory: bool = False, verify: bool = True):
    """A run's trained model as a ready ``nn.Module`` (see ``nasxfer.final.inference.load_model``).

    ``trust_factory=True`` allows a model whose backbone is built by calling a factory
    function (that code runs); ``verify=False`` accepts a file with no recorded sha256.

    >>> model = nasxfer.load_model("latest")
    >>> model.predict(["cat.png", "dog.png"], top_k=3)
    """
    from nasxfer.final.inference import load_model as _load

    return _load(run, runs_dir=runs_dir, trial=trial, device=device, trust_factory=trust_factory, verify=verify)
