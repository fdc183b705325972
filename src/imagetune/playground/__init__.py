"""The browser playground's static files (HTML, CSS, JavaScript; no build step).

Third-party code under ``static/vendor/`` comes from the npm registry, refreshed by
``make vendor`` (scripts/vendor-frontend.sh); each package keeps its LICENSE and VERSION.
"""

from __future__ import annotations

from pathlib import Path

PAGE = Path(__file__).parent / "index.html"
"""The page itself, served at ``/`` with its Content-Security-Policy."""
STATIC_DIR = Path(__file__).parent / "static"
"""Its scripts, styles and vendored code, served under ``/playground/``."""
