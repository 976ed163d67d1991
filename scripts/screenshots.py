#!/usr/bin/env python3
"""Draw the README's pictures into ``screenshots/`` (``make screenshots``).

The scenes are those of the snapshot tests (``tests/tui/scenes.py``), taken the way
pytest-textual-snapshot takes them, with fixed element ids: run twice, the files are
byte-identical, so git shows a change only when the screens changed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: the tests' scenes live beside the package

from textual._doc import take_svg_screenshot  # noqa: E402  (what the snapshot plugin uses)
from textual.pilot import Pilot  # noqa: E402

from tests.tui.scenes import SCREENSHOTS, Scene, fixed_svg_ids, fixed_time_zone  # noqa: E402


def render(scene: Scene) -> str:
    """Return ``scene``'s picture as SVG text with fixed ids (fails if it never got there)."""
    reached: list[str] = []

    async def run_before(pilot: Pilot[Any]) -> None:
        reached.append(await scene.drive(pilot))

    with fixed_time_zone():
        svg = take_svg_screenshot(
            app=scene.make_app(), terminal_size=scene.size, run_before=run_before
        )
    if not reached:
        raise RuntimeError(f"the {scene.name} scene did not reach its state")
    return fixed_svg_ids(svg, scene.name)


def main(argv: list[str] | None = None) -> int:
    """Write each scene's picture (all, or those named) to ``screenshots/NAME.svg``."""
    names = [scene.name for scene in SCREENSHOTS]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("scenes", nargs="*", metavar="SCENE", help="any of: " + ", ".join(names))
    parser.add_argument("--out", type=Path, default=REPO / "screenshots", help="where to write")
    args = parser.parse_args(argv)
    wanted = set(args.scenes or names)
    if unknown := sorted(wanted - set(names)):
        parser.error(f"no such scene: {', '.join(unknown)}")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for scene in SCREENSHOTS:
        if scene.name in wanted:
            path = out / f"{scene.name}.svg"
            path.write_text(render(scene), encoding="utf-8")
            print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
