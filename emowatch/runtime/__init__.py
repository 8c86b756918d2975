"""Model runtime: the ONNX file, its session, preprocessing and classification. Never imports torch."""
