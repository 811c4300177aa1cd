"""kws-mcu: keyword spotting from raw audio to a microcontroller, measured at every step."""

__version__ = "0.1.0"
