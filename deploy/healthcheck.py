"""The container's health probe: exit 0 when Memo's API on this host answers 200 on a health route, 1 otherwise.

Standard library only, so it runs in the image as it is, without importing Memo (a probe every 30 s must not cost
the seconds of Memo's own imports). The route is the first argument (default `/health/live`: the process answers);
compose asks `/health/ready` instead. The port is PORT, as `memo serve` reads it.
"""
# ruff: noqa: INP001 - a script copied into the image, not a package

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_ROUTE = "/health/live"
TIMEOUT_S = 3.0


def probe(route: str, port: str) -> str | None:
    """None when the route answers 200, else what went wrong, in a line the engine keeps in its health log."""
    url = f"http://127.0.0.1:{port}{route}"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as answer:
            return None if answer.status == 200 else f"{url} answered {answer.status}"  # noqa: PLR2004
    except urllib.error.HTTPError as error:
        return f"{url} answered {error.code}"
    except (OSError, ValueError) as error:
        return f"{url} did not answer: {error}"


def main(argv: list[str]) -> int:
    route = argv[1] if len(argv) > 1 else DEFAULT_ROUTE
    problem = probe(route if route.startswith("/") else f"/{route}", os.environ.get("PORT", "3001"))
    if problem is None:
        return 0
    sys.stderr.write(problem + "\n")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
