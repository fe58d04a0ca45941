"""`python -m glm_mcp`: the same as the `glm-mcp` command."""

import sys

from glm_mcp.cli.main import main

sys.exit(main())
