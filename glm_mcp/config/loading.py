"""The loader of the JSON config file.

Contract:
- the file uses the `mcpServers` shape of Claude Desktop and Cursor, or VS Code's `servers` with `type`;
- `${VAR}` and `${VAR:-default}` expand from the environment in every string, before validation;
- every mistake raises `ConfigError` naming the file, the JSON path and what would be valid.
This module and the CLI are the only readers of the environment.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import logging
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast, get_args

from pydantic import SecretStr, ValidationError

from glm_mcp._json import as_object
from glm_mcp.config.defaults import default_config_data, holds_private_files
from glm_mcp.config.models import (
    PASSED_ENV,
    BundledName,
    BundledUpstreamConfig,
    GatewayConfig,
    HttpUpstreamConfig,
    ModelConfig,
    ServeConfig,
    StdioUpstreamConfig,
    UpstreamConfig,
)
from glm_mcp.config.variables import expand_env, join_path
from glm_mcp.errors import ConfigError, EntryError, VariableError
from glm_mcp.jsonc import to_json
from glm_mcp.naming import comparable_name
from glm_mcp.private_files import state_folder

logger = logging.getLogger(__name__)

ENV_VAR = "GLM_MCP_CONFIG"
"""Environment variable naming the config file when `--config` is not given."""
LOCAL_CONFIG = "glm-mcp.json"
"""Config file looked up in the working directory after `--config` and `$GLM_MCP_CONFIG`."""
TOP_LEVEL_KEYS = ("mcpServers", "servers", "model", "gateway", "inputs", "$schema")
"""Keys a config file may have at the top (`inputs` and `$schema` are VS Code's, accepted and ignored)."""


def _from_variable(original: Any, loc: tuple[str | int, ...]) -> bool:
    """Whether the value at `loc` was written with a `${…}` (its expanded value may be a secret)."""
    value = original
    for part in loc:
        if isinstance(value, dict) and part in value:
            value = cast(dict[str | int, Any], value)[part]
        elif isinstance(value, list) and isinstance(part, int) and 0 <= part < len(cast(list[Any], value)):
            value = cast(list[Any], value)[part]
        else:
            return False
    return isinstance(value, str) and "${" in value


def _format_validation_error(error: ValidationError, base: str, original: Any = None) -> str:
    lines: list[str] = []
    for item in error.errors(include_url=False):
        path = base
        for part in item["loc"]:
            path = join_path(path, part)
        message = _MESSAGES.get(item["msg"], item["msg"])
        got = item.get("input")
        # Never echo what a secret-bearing field holds (keys, tokens, env values, headers, URLs with credentials),
        # nor a value filled in from a variable: the environment holds secrets.
        secret = any(part in _SECRET_FIELDS for part in item["loc"]) or _from_variable(original, item["loc"])
        shown = (
            "" if secret or isinstance(got, dict | list) or got is None else f" (got {json.dumps(got, default=str)})"
        )
        lines.append(f"{path}: {message}{shown}")
    return "; ".join(lines)


_MESSAGES = {
    "Input should be a valid tuple": "must be an array of strings",
    "Input should be a valid dictionary": "must be an object",
    "Input should be a valid string": "must be a string",
}

_SECRET_FIELDS = frozenset({"auth_tokens", "api_key", "env", "headers", "url"})

_TYPE_ALIASES = {
    "stdio": "stdio",
    "http": "http",
    "streamable-http": "http",
    "streamableHttp": "http",
    "streamable_http": "http",
    "sse": "sse",
    "bundled": "bundled",
}


def parse_upstream(
    name: str, raw: Any, path: str, base_dir: Path | None = None, original: Any = None
) -> UpstreamConfig:
    """Validate one entry of `mcpServers` (or VS Code's `servers`); `original` is the entry as written, before its
    variables were filled in (what came from a variable is never echoed in an error).

    Raises:
        ConfigError: The entry is not a valid stdio, HTTP or bundled server.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f'{path}: must be an object with "command" (stdio), "url" (HTTP) or "bundled"')
    entry: dict[str, Any] = dict(raw)  # pyright: ignore[reportUnknownArgumentType] JSON object
    kind = entry.get("type")
    if kind is not None:
        if not isinstance(kind, str) or kind not in _TYPE_ALIASES:
            shown = "" if _from_variable(original, ("type",)) else f" (got {json.dumps(kind)})"
            raise ConfigError(f'{path}.type: must be "stdio", "http", "sse" or "bundled"{shown}')
        entry["type"] = kind = _TYPE_ALIASES[kind]
    model: type[StdioUpstreamConfig | HttpUpstreamConfig | BundledUpstreamConfig]
    if kind == "bundled" or (kind is None and "bundled" in entry and "command" not in entry):
        model = BundledUpstreamConfig
    elif kind == "stdio" or (kind is None and "command" in entry):
        model = StdioUpstreamConfig
    elif kind in ("http", "sse") or "url" in entry:
        model = HttpUpstreamConfig
    else:
        names = ", ".join(json.dumps(name) for name in get_args(BundledName))
        raise ConfigError(
            f'{path}: needs "command" (a stdio server), "url" (an HTTP server) or "bundled" (one of glm-mcp\'s own '
            f"servers: {names})"
        )
    try:
        upstream = model.model_validate(entry)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, path, original)) from None
    if isinstance(upstream, StdioUpstreamConfig) and upstream.cwd and base_dir is not None:
        cwd = Path(upstream.cwd).expanduser()
        if not cwd.is_absolute():
            upstream = upstream.model_copy(update={"cwd": str((base_dir / cwd).resolve())})
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,48}", name):
        raise ConfigError(f"{path}: server names use letters, digits, '_', '-' and '.', at most 48 characters")
    chosen = upstream.prefix if upstream.prefix is not None else name
    if chosen and comparable_name(chosen, "x").startswith("glm__"):
        raise ConfigError(
            f"{path}: the prefix {chosen!r} would expose names starting 'glm__', which are the gateway's own "
            "(glm__agent); give this server another"
        )
    if "__" in name or "__" in (upstream.prefix or ""):
        # `a` with tool `b__c` and `a__b` with tool `c` would both be exposed as `a__b__c`.
        raise ConfigError(f"{path}: a server name or prefix cannot contain '__', which separates it from tool names")
    return upstream


def parse_config(
    data: Any, environ: Mapping[str, str], source: str = "<config>", base_dir: Path | None = None
) -> GatewayConfig:
    """Build a `GatewayConfig` from parsed JSON.

    Raises:
        ConfigError: Anything is invalid; the message starts with `source`.
    """
    try:
        return _parse_config(data, environ, source, base_dir)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _parse_config(data: Any, environ: Mapping[str, str], source: str, base_dir: Path | None) -> GatewayConfig:
    document = as_object(data)
    if document is None:
        raise ConfigError('the top level must be a JSON object with "mcpServers"')
    for key in document:
        if key not in TOP_LEVEL_KEYS:
            near = difflib.get_close_matches(key, TOP_LEVEL_KEYS, n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            raise ConfigError(f"{key}: not a config key; {hint}the keys are mcpServers (or servers), model and gateway")
    entries: dict[str, tuple[str, Any]] = {}
    for key in ("mcpServers", "servers"):
        if key not in document:
            continue
        section = as_object(document[key])
        if section is None:
            raise ConfigError(f"{key}: must be an object mapping server names to server entries")
        for name, entry in section.items():
            if name in entries:
                raise ConfigError(f"{key}.{name}: '{name}' is in both mcpServers and servers; keep one of them")
            entries[name] = (f"{key}.{name}", entry)
    builtins = _vscode_variables(environ, base_dir)
    servers = {name: _server(name, entry, path, environ, builtins, base_dir) for name, (path, entry) in entries.items()}
    _check_prefixes(servers)
    _check_bundled(servers)
    sections: dict[str, Any] = {}
    for section, model in (("model", ModelConfig), ("gateway", ServeConfig)):
        raw = expand_env(document.get(section, {}), environ, section, builtins)
        try:
            sections[section] = model.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(_format_validation_error(exc, section, document.get(section))) from None
    if sections["gateway"].state_dir is None:
        home = Path(environ.get("HOME") or Path.home())
        sections["gateway"] = sections["gateway"].model_copy(update={"state_dir": str(state_folder(environ, home))})
    if sections["gateway"].redis_url is None and environ.get("GLM_MCP_REDIS_URL"):
        redis = {"redis_url": environ["GLM_MCP_REDIS_URL"]}
        sections["gateway"] = ServeConfig.model_validate({**sections["gateway"].model_dump(), **redis})
    for_all: bool | tuple[str, ...] = sections["gateway"].inherit_env
    servers = {name: _with_inherited(server, environ, for_all) for name, server in servers.items()}
    model_config: ModelConfig = sections["model"]
    if model_config.api_key is None and environ.get("ZAI_API_KEY"):
        model_config = model_config.model_copy(update={"api_key": SecretStr(environ["ZAI_API_KEY"])})
    return GatewayConfig(servers=servers, model=model_config, gateway=sections["gateway"], source=source)


def _vscode_variables(environ: Mapping[str, str], base_dir: Path | None) -> dict[str, str]:
    """VS Code's own `${workspaceFolder}` (the folder above `.vscode/`, or the config's folder) and `${userHome}`."""
    folder = base_dir or Path.cwd()
    if folder.name == ".vscode":
        folder = folder.parent
    return {"workspaceFolder": str(folder), "userHome": environ.get("HOME", str(Path.home()))}


def _server(
    name: str,
    entry: Any,
    path: str,
    environ: Mapping[str, str],
    builtins: Mapping[str, str],
    base_dir: Path | None,
) -> UpstreamConfig:
    """One server entry; a variable that cannot be filled in fails this server only."""
    try:
        expanded = expand_env(entry, environ, path, builtins)
        expanded = _with_env_file(expanded, path, base_dir)
        _check_entry(expanded, path)
    except EntryError as exc:
        logger.warning("%s", exc)
        placeholder = as_object(entry) or {}
        kind = "http" if "url" in placeholder and "command" not in placeholder else "stdio"
        broken = {"command": "(not started)"} if kind == "stdio" else {"url": "http://0.0.0.0/", "type": "http"}
        model = StdioUpstreamConfig if kind == "stdio" else HttpUpstreamConfig
        disabled = placeholder.get("disabled") is True
        return model.model_validate({**broken, "config_error": str(exc), "disabled": disabled})
    return parse_upstream(name, expanded, path, base_dir, original=entry)


def _check_entry(entry: Any, path: str) -> None:
    """Mistakes people make copying a server from its README, each with how to fix it.

    Raises:
        EntryError: `command` holds a whole command line, or `url` is a WebSocket URL.
    """
    fields = as_object(entry) or {}
    command, args, url = fields.get("command"), fields.get("args"), fields.get("url")
    if isinstance(command, str) and " " in command.strip() and not args and shutil.which(command) is None:
        program, *rest = command.split()
        raise EntryError(
            f"{path}.command: {command!r} is a whole command line, but the command is run as one program name; "
            f'split it: "command": {json.dumps(program)}, "args": {json.dumps(rest)}'
        )
    if isinstance(url, str) and url.lower().startswith(("ws://", "wss://")):
        raise EntryError(
            f"{path}.url: glm-mcp speaks MCP over streamable HTTP and SSE, not WebSocket: use the server's "
            'http:// or https:// endpoint (often ending in /mcp, or /sse with "type": "sse")'
        )


def _with_env_file(entry: Any, path: str, base_dir: Path | None) -> Any:
    """VS Code's `envFile` (dotenv format) read into `env`; `env` wins where both name a variable."""
    fields = as_object(entry)
    if fields is None or not isinstance(fields.get("envFile"), str):
        return entry
    file = Path(fields["envFile"]).expanduser()
    if not file.is_absolute() and base_dir is not None:
        file = base_dir / file
    if not file.is_file():
        raise VariableError(f"{path}.envFile: {file} does not exist; create it or remove envFile")
    from dotenv import dotenv_values  # loaded only for an envFile (10 ms every start need not pay)

    loaded = {key: value for key, value in dotenv_values(file).items() if value is not None}
    env = as_object(fields.get("env")) or {}
    return {**fields, "env": {**loaded, **env}}


def _with_inherited(
    server: UpstreamConfig, environ: Mapping[str, str], for_all: bool | tuple[str, ...]
) -> UpstreamConfig:
    """The stdio server with the variables it gets from the gateway's environment filled in."""
    if not isinstance(server, StdioUpstreamConfig):
        return server
    wanted = (server.inherit_env, for_all)
    if any(choice is True for choice in wanted):
        return server.model_copy(update={"inherited": dict(environ)})
    patterns = [*PASSED_ENV, *(p for choice in wanted if not isinstance(choice, bool) for p in choice)]
    inherited = {name: value for name, value in environ.items() if any(fnmatch.fnmatchcase(name, p) for p in patterns)}
    return server.model_copy(update={"inherited": inherited})


def _check_bundled(servers: Mapping[str, UpstreamConfig]) -> None:
    """A bundled server runs once inside the gateway: a second entry of it would change the first one's folder."""
    owners: dict[str, str] = {}
    for name, server in servers.items():
        if not isinstance(server, BundledUpstreamConfig) or server.disabled:
            continue
        if (first := owners.setdefault(server.bundled, name)) != name:
            raise ConfigError(
                f"mcpServers.{name}: the bundled {server.bundled} server runs once inside the gateway, and "
                f"mcpServers.{first} runs it already; run this one as its own process instead: "
                f'"command": "python", "args": ["-m", "servers.{server.bundled}", ...]'
            )


def _check_prefixes(servers: Mapping[str, UpstreamConfig]) -> None:
    """Two servers exposed under one prefix would lose one's tools: name both."""
    owners: dict[str, str] = {}
    for name, server in servers.items():
        if server.prefix == "":
            continue  # passthrough: its names are checked one by one when the server lists them
        exposed = server.prefix or name
        if exposed in owners:
            raise ConfigError(
                f"mcpServers.{name}: its tools would be exposed as '{exposed}__…' like those of "
                f"'{owners[exposed]}'; give one of them another \"prefix\""
            )
        owners[exposed] = name


def find_config_path(explicit: str | None, environ: Mapping[str, str], cwd: Path) -> Path | None:
    """Apply the lookup order `--config` > `$GLM_MCP_CONFIG` > `./glm-mcp.json`; None means the default."""
    if explicit:
        return Path(explicit)
    if environ.get(ENV_VAR):
        return Path(environ[ENV_VAR])
    local = cwd / LOCAL_CONFIG
    return local if local.is_file() else None


def load_config(explicit: str | None, environ: Mapping[str, str], cwd: Path) -> GatewayConfig:
    """Find, read and validate the configuration.

    Raises:
        ConfigError: The file cannot be read, is not JSON, or is invalid.
    """
    path = find_config_path(explicit, environ, cwd)
    if path is None:
        home = Path(environ.get("HOME", str(cwd)))
        data_dir = Path(environ.get("XDG_DATA_HOME") or home / ".local" / "share") / "glm-mcp"
        root: Path | str = "."
        if holds_private_files(cwd, home):
            # Launched from /, the home folder (as editors do) or a folder with keys in it: never hand every tool
            # the user's keys and files.
            root = data_dir / "files"
            root.mkdir(parents=True, exist_ok=True)
            logger.warning(
                "the built-in config serves %s with the files server, not %s, which holds private files (keys, "
                "credentials); to choose the folder, write a config (`glm-mcp install --files-root DIR` does) or "
                "pass --config",
                root,
                cwd,
            )
        return parse_config(default_config_data(data_dir, root), environ, "<built-in default: the bundled servers>")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None
    config = config_from_text(text, environ, str(path), path.resolve().parent)
    return config.model_copy(update={"document": text})


def config_from_text(text: str, environ: Mapping[str, str], source: str, base_dir: Path | None) -> GatewayConfig:
    """A config file's text (JSON or JSONC) validated.

    Raises:
        ConfigError: The text is not JSON, or the config is invalid.
    """
    try:
        data = json.loads(to_json(text))  # VS Code's and Zed's files are JSONC: comments and trailing commas
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except ValueError as exc:
        raise ConfigError(f"{source}: not valid JSON: {exc}") from None
    return parse_config(data, environ, source, base_dir)
