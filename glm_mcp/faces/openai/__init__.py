"""The OpenAI face: `/v1/chat/completions` and `/v1/models`, and what the model faces share."""
