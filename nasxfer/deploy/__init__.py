"""A network as it is deployed: written as ONNX, quantized to int8 (static post-training
quantization with ONNX Runtime's tools), run and timed in ONNX Runtime on the CPU.

Used by the search (deployed latency, ``search.latency.runtime: onnxruntime``) and by
``nasxfer export --quantize int8``. Never trains, never searches, never writes a run folder.
"""
