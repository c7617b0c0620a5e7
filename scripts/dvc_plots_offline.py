"""Make `dvc plots show` render offline, once per user: `make plots-offline` (or this script).

DVC's page (`dvc_plots/index.html`) loads vega, vega-lite and vega-embed from a CDN, so
without a network its two Vega plots (val F1 per epoch, the confusion plot) stay blank.
This script gets those three libraries, at the versions DVC's page names, from the npm
registry (or from tarballs you bring: `--from DIR` holding `npm pack` output), checks each
against the integrity hash pinned below, writes `.dvc/plots_offline.html` (DVC's page with
the libraries inlined) and sets it as this project's `plots.html_template`
(`.dvc/config.local`). After that a plain `dvc plots show` writes a page that needs no
network. Nothing in the pipeline or the tests downloads anything; this is a setup step,
like `pip install`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import subprocess
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REGISTRY = "https://registry.npmjs.org"
TEMPLATE = "plots_offline.html"  # under .dvc/, where DVC resolves a relative template path


@dataclass(frozen=True)
class Library:
    name: str
    version: str
    integrity: str  # the registry's dist.integrity of the tarball

    @property
    def tarball(self) -> str:
        return f"{self.name}-{self.version}.tgz"

    @property
    def member(self) -> str:
        return f"package/build/{self.name}.min.js"


# The versions dvc-render's page loads (dvc_render/vega.py), in the order they must load.
LIBRARIES = (
    Library("vega", "5.20.2", "sha512-qmH7aD9GGPpssVdxL1xgcdxTbQzyRUeRR16Os385ymvQhiwCYQNA6+eXUPAZ"
            "DTVLfk0RXu6Jzj6kUE5jQ80EVw=="),
    Library("vega-lite", "5.2.0", "sha512-Yxcg8MvYfxHcG6BbkaKT0oVCIMIcE19UvqIsEwBmyd/7h2nzW7oRnID81T"
            "8UrY7hpDrIr6wa2JADOT2dhGNErw=="),
    Library("vega-embed", "6.18.2", "sha512-wcDyQPE4J5aiCDc3/suH5RQDvrKkjuLkhzUcbOLwEkNF8/+pp17tS0Jgh"
            "zEvAPNRg+5aG1/N2ydixq8Lk3dOlg=="),
)

# dvc-render's default page with its `{scripts}` (the CDN <script src> lines) replaced by
# the libraries themselves; `{refresh_tag}` and `{plot_divs}` are DVC's placeholders.
PAGE = """<!DOCTYPE html>
<html>
<head>
    {{refresh_tag}}
    <title>DVC Plot</title>
{libraries}
    <style>
        table {{
            border-spacing: 15px;
        }}
    </style>
</head>
<body>
    {{plot_divs}}
</body>
</html>
"""


class OfflinePlotsError(RuntimeError):
    pass


def integrity_of(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def fetch(lib: Library, source: Path | None) -> tuple[bytes, str]:
    """The library's tarball and where it came from; refused unless its hash is the pinned one."""
    if source is not None:
        where = source / lib.tarball
        if not where.is_file():
            raise OfflinePlotsError(f"{where}: not found (`npm pack {lib.name}@{lib.version}` makes it)")
        data, origin = where.read_bytes(), str(where)
    else:
        origin = f"{REGISTRY}/{lib.name}/-/{lib.tarball}"
        try:
            with urllib.request.urlopen(origin, timeout=60) as response:
                data = response.read()
        except OSError as err:
            raise OfflinePlotsError(f"cannot download {origin}: {err}; where there is no network, "
                                    f"bring the tarballs and pass --from DIR") from None
    if integrity_of(data) != lib.integrity:
        raise OfflinePlotsError(f"{origin}: integrity {integrity_of(data)[:30]}... is not the pinned "
                                f"{lib.integrity[:30]}... of {lib.name} {lib.version}; not used")
    return data, origin


def script_of(lib: Library, tarball: bytes, origin: str) -> str:
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        try:
            code = tar.extractfile(lib.member).read().decode()  # type: ignore[union-attr]
        except KeyError:
            raise OfflinePlotsError(f"{origin}: no {lib.member} inside") from None
    for placeholder in ("{plot_divs}", "{scripts}", "{refresh_tag}"):
        if placeholder in code:  # DVC would substitute into the library itself
            raise OfflinePlotsError(f"{origin}: {lib.member} contains DVC's {placeholder}")
    # Inside an inline <script>, "</script" would end the element early.
    code = code.replace("</script", "<\\/script")
    return f"    <!-- {lib.name} {lib.version} ({lib.integrity[:23]}...) -->\n    <script>{code}</script>"


def build_page(libraries: tuple[Library, ...], source: Path | None) -> str:
    scripts = [script_of(lib, *fetch(lib, source)) for lib in libraries]
    return PAGE.format(libraries="\n".join(scripts))


def install(source: Path | None, libraries: tuple[Library, ...] = LIBRARIES,
            project: Path | None = None) -> Path:
    """Write the template and make it the user's plots.html_template (``project``: that
    project's only)."""
    if project is None:
        from dvc.config import Config

        folder, scope, cwd = Path(Config.get_dir("global")), "--global", None
    else:
        folder, scope, cwd = project / ".dvc", "--local", project
        if not folder.is_dir():
            raise OfflinePlotsError(f"{project}: not a DVC project (no .dvc/)")
    page = build_page(libraries, source)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / TEMPLATE
    partial = target.with_suffix(".html.partial")
    partial.write_text(page)
    partial.replace(target)  # never a half-written template
    subprocess.run([sys.executable, "-m", "dvc", "config", scope, "plots.html_template",
                    str(target)], cwd=cwd, check=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--from", dest="source", type=Path,
                        help="folder with the three .tgz files (no download)")
    parser.add_argument("--project", type=Path,
                        help="set it for this DVC project only (default: for this user)")
    args = parser.parse_args(argv)
    try:
        target = install(args.source, project=args.project)
    except OfflinePlotsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {target} ({target.stat().st_size // 1024} KiB: "
          + ", ".join(f"{lib.name} {lib.version}" for lib in LIBRARIES)
          + "); `dvc plots show` now renders offline (plots.html_template, "
          + ("this project's .dvc/config.local)" if args.project else "`dvc config --global`)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
