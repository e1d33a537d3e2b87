"""Models: the embedded from-scratch model, prompting, generation backends and SFT."""
