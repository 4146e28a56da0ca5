"""dynahate.eval: evaluation of a Dynahate adapter, scoring of prediction files, classification of new posts."""
