"""dynahate.publish: the model card rendered from a run's own files, staging, and upload to the Hugging Face Hub."""
