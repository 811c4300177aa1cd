"""Firmware: int8 .tflite -> C engine (codegen), builds (toolchain), the Cortex-M4 emulator and
its cycle model (emulator, timing), the Arduino sketch (arduino), and measure_tflite (measure)."""
