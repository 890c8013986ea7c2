"""Deployment: static-graph export, the predictor, ONNX and PaddleNLP Taskflow."""
