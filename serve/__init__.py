"""dynahate.serve: an HTTP server that classifies posts with a Dynahate adapter (``dynahate serve``).

Built on ``dynahate.eval``'s model loading and score engine; nothing in ``dynahate.eval`` imports it.
"""
