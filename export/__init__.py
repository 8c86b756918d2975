"""Verified ONNX export of emowatch training checkpoints (`python -m export CHECKPOINT OUT.onnx`)."""
