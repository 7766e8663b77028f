"""``python -m geomaug info [--json]`` and ``python -m geomaug demo [--out PATH]``."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m geomaug")
    sub = parser.add_subparsers(dest="command", required=True)
    info_p = sub.add_parser("info", help="versions, compiled GPU archs, and the backend of each op")
    info_p.add_argument("--json", action="store_true", help="machine-readable output")
    demo_p = sub.add_parser("demo", help="align a face photo to the ArcFace template and crop it")
    demo_p.add_argument("--out", default="geomaug-demo.png", help="where to write the PNG")
    args = parser.parse_args(argv)
    from ._backend import BackendSettingError, mode
    try:
        mode()
    except BackendSettingError as exc:  # a setting, not a bug: one line, no traceback
        print(f"python -m geomaug: {exc}", file=sys.stderr)
        return 2
    if args.command == "info":
        from .info import main as info_main
        return info_main(as_json=args.json)
    from .demo import main as demo_main
    return demo_main(out=args.out)


if __name__ == "__main__":
    sys.exit(main())
