"""Export of a trained model: torch -> ONNX -> onnx2tf -> full-integer TFLite, the interpreters
that check it (LiteRT, TFLM Python), and the C array for TFLM users."""
