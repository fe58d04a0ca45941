"""A server's own questions (sampling, elicitation, roots), relayed to whoever may answer them."""
