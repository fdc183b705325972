"""Image processing: decoding, sizing, the processing pipeline, encoding.

Usable as a library: nothing here reads settings or the environment.
"""
