# glm-mcp in a slim image: non-root, tini as PID 1 so the stdio servers the gateway spawns are reaped,
# `glm-mcp serve` on 0.0.0.0. Binding a public address requires a bearer token: pass GLM_MCP_TOKEN
# (and ZAI_API_KEY for the model) at run time; no secret is baked into the image.
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 glm

WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY glm_mcp ./glm_mcp
COPY servers ./servers
RUN pip install --no-cache-dir -c constraints.txt . && rm -rf /src

COPY docker/glm-mcp.json /etc/glm-mcp/glm-mcp.json
ENV GLM_MCP_CONFIG=/etc/glm-mcp/glm-mcp.json

USER glm
WORKDIR /data
EXPOSE 8765
HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8765/healthz', timeout=2)"]
ENTRYPOINT ["tini", "--", "glm-mcp"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8765"]
