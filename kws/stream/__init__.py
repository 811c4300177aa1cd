"""Always-on detection measured as a product (the ``stream`` stage): long labelled test streams
(``kws.stream.synth``), the streaming recognizer's detections scored against them
(``kws.stream.score``), and the stage's run (``kws.stream.run``)."""
