"""Logging in to remote servers behind OAuth 2.1: the token vault, the login's redirect, and the SDK's client auth
set up per server."""
