"""dynahate.serve: an HTTP server that classifies posts with a Dynahate adapter (``dynahate serve``).

Built on ``dynahate.inference``'s model loading and score engine (:mod:`dynahate.inference.model_loading`,
:mod:`dynahate.inference.score_engine`); no other package imports it.
"""
