"""The model side: GLM's chat-completions wire format, spoken over httpx2."""
