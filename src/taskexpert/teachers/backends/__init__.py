"""Teacher backends: local transformers, OpenAI-compatible HTTP servers, vLLM's offline engine."""
