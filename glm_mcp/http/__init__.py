"""The HTTP host: the app, its guards and bounds, the admin routes and the status page, the uvicorn server."""
