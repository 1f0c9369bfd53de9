"""The bench's uvicorn is `memo serve`'s own: the same `serving.serve` (open-file limit, listening socket,
`uvicorn_config`: httptools with Memo's deadlines, `GracefulServer`), the server's settings read from the
environment as `memo serve` reads them; only the app factory is one of bench/apps.py.

Run (bench/ on PYTHONPATH, as bench/run.py sets it): `python bench/serve.py test_app 8000 [--host 127.0.0.1]`.
What `memo serve` does before it serves (migrations, the first key) the bench does itself, through the CLI.
"""

from __future__ import annotations

import argparse

from memo.entrypoints import serving
from memo.entrypoints.settings import Settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("factory", help="a factory of bench/apps.py, e.g. test_app or embedded_app")
    parser.add_argument("port", type=int)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    serving.serve(Settings.from_env(), host=args.host, port=args.port, workers=1, app=f"apps:{args.factory}")


if __name__ == "__main__":
    main()
