"""The final model and its uses: finetune the search's winner on train+val and test it once,
export it (TorchScript, ONNX, a state dict), and load it back to classify images.

Reads a finished search's run folder; never searches."""
