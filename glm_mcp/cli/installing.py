"""`glm-mcp install`: write the gateway's entry into an editor's or client's config."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from glm_mcp.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    gateway_token,
)
from glm_mcp.cli.install import (
    Plan,
    apply,
    claude_settings_path,
    config_path,
    launch_command,
    plan,
    plan_http,
    plan_model_env,
    user_config_path,
    user_config_text,
)
from glm_mcp.config import GatewayConfig, find_config_path
from glm_mcp.errors import ConfigError, UsageError
from glm_mcp.redact import MASK, register, scrub

logger = logging.getLogger(__name__)


def _install_env(specs: list[str]) -> dict[str, str]:
    """`--env NAME` (its value from this shell) and `--env NAME=VALUE`."""
    env: dict[str, str] = {}
    for spec in specs:
        name, has_value, value = spec.partition("=")
        if not has_value:
            if name not in os.environ:
                raise UsageError(f"--env {name}: it is not set in this shell; set it, or write --env {name}=VALUE")
            value = os.environ[name]
        env[name] = value
    return env


def _user_config(args: argparse.Namespace, *, dry_run: bool) -> Path:
    """The user's glm-mcp config (created with an explicit files root when there is none): what install names."""
    path = user_config_path(Path.home(), os.environ)
    if path.exists():
        return path
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "glm-mcp"
    root = Path(args.files_root).expanduser().resolve() if args.files_root else data_home / "files"
    if root in (Path("/"), Path.home().resolve()):
        raise UsageError(f"--files-root {root}: serving / or your home folder gives every tool all your files")
    if not dry_run:
        root.mkdir(parents=True, exist_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(user_config_text(root, data_home / "notes.json"), encoding="utf-8")
        print(f"glm-mcp: wrote {path} (the bundled servers; files serves {root}); edit it to add servers")
    return path


def install(config: GatewayConfig, args: argparse.Namespace) -> int:
    path = config_path(args.client, Path.home(), os.environ)
    env = _install_env(args.env)
    register(env.values())
    config_file = find_config_path(args.config, os.environ, Path.cwd())
    try:
        if args.http:
            token = gateway_token(config)
            register([token] if token else [])
            change = plan_http(args.client, path, args.http, token)
        else:
            if config_file is None:
                config_file = _user_config(args, dry_run=args.dry_run)
            command, launch_args = launch_command(config_file)
            change = plan(args.client, path, command, launch_args, env)
        changes = [change]
        if args.model is not None:
            changes.append(_model_change(config, args))
    except ConfigError as exc:
        print(f"glm-mcp: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    for change in changes:
        if args.dry_run:
            print(f"# {change.path} would become (secrets shown as {MASK}):")
            print(scrub(change.text), end="")
        elif change.unchanged:
            print(f"{change.path} already says what glm-mcp would write (nothing written)")
        else:
            saved = apply(change)
            backup = f" (the previous version is in {saved.name})" if saved is not None else ""
            print(f"glm-mcp added to {args.client}: {change.path}{backup}; restart the editor to load it")
    return EXIT_OK


def _model_change(config: GatewayConfig, args: argparse.Namespace) -> Plan:
    """Claude Code's settings pointing its model at this gateway (`install claude-code --model`).

    Raises:
        ConfigError: Another client than claude-code, or authentication is off (Claude Code needs a token).
    """
    if args.client != "claude-code":
        raise ConfigError("--model is for claude-code: it points Claude Code's model at the gateway")
    token = gateway_token(config)
    if not token:
        raise ConfigError('--model needs the gateway\'s token, and authentication is off ("auth_tokens": [])')
    register([token])
    serve = config.gateway
    host = "127.0.0.1" if serve.host in ("0.0.0.0", "::") else f"[{serve.host}]" if ":" in serve.host else serve.host
    variables = {
        "ANTHROPIC_BASE_URL": f"http://{host}:{serve.port}",
        "ANTHROPIC_AUTH_TOKEN": token,
        "ANTHROPIC_MODEL": args.model or config.model.name,
    }
    return plan_model_env(claude_settings_path(Path.home(), os.environ), variables)
