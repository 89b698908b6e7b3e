"""Live colorization from a camera or stream: capture, smoothing, stats, outputs, the loop.

Device-side code: nothing here imports TensorFlow (the Keras reference is only built by the
CLI when ``--model`` is used).
"""
