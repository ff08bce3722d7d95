"""Run the code snippets of the documentation pages, page by page.

Usage::

    python docs/check_snippets.py                 # every page of docs/
    python docs/check_snippets.py docs/quickstart.md docs/diagnostics.md
    python docs/check_snippets.py -v docs/quickstart.md     # also print what the snippets print

Each page runs in a fresh Python process (as ``python -c``, like a notebook session),
in its own temporary directory, with its ```` ```python ```` blocks executed in order in
one namespace (so a page reads top to bottom like a session). A block preceded by the
line ``<!-- docs-check: skip -->`` is not run (recipes that need a GPU cluster, the
network or an account); a ```` ```bash ```` block runs only when preceded by
``<!-- docs-check: run -->``.

Snippets load the bundled demo prior (``xgenda.load_demo_prior()`` or ``"demo"``).
When this checkout does not hold its weights yet, a tiny stand-in prior with the same
variables and grid is trained first (a few seconds) and every process started here,
dask workers and ``xgenda`` commands included, is pointed at it. Cached demo data go
to a temporary ``XGENDA_CACHE``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
SKIP = "<!-- docs-check: skip -->"
RUN = "<!-- docs-check: run -->"
_FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```\s*$", flags=re.MULTILINE | re.DOTALL)

_SITECUSTOMIZE = '''
import os
_path = os.environ.get("XGENDA_DOCS_DEMO_PRIOR")
if _path:
    import pathlib
    import xgenda.prior
    xgenda.prior.demo_prior_path = lambda: pathlib.Path(_path)
'''

_STAND_IN = '''
import xgenda
truth = xgenda.datasets.toy_ocean(days=8, size=64, seed=0, spinup_days=20)
cfg = xgenda.TrainConfig(
    patch_size=64, batch_size=2, steps=3, warmup_steps=1, val_every=0, checkpoint_every=0,
    unet={"base_channels": 8, "channel_mult": [1, 2], "num_blocks": 1,
          "attn_resolutions": [], "dropout": 0.0},
    climatology="pixel", progress=False, log_every=0, num_threads=1, output=OUTPUT)
xgenda.train(truth, cfg)
'''


def blocks(page: Path) -> list[tuple[str, str]]:
    """``(language, code)`` of the blocks of ``page`` that are to be run."""
    text = page.read_text(encoding="utf-8")
    out = []
    for match in _FENCE.finditer(text):
        lang, code = match.group(1), match.group(2)
        before = text[:match.start()].rstrip().splitlines()[-1:] or [""]
        if lang == "python" and before[0].strip() != SKIP:
            out.append(("python", code))
        elif lang == "bash" and before[0].strip() == RUN:
            out.append(("bash", code))
    return out


def script(page_blocks: list[tuple[str, str]]) -> str:
    """One Python script running the blocks in order (bash through subprocess)."""
    parts = ["import subprocess, time as _time", "_start = _time.perf_counter()"]
    for k, (lang, code) in enumerate(page_blocks):
        parts.append(f"print(f'--- block {k + 1} ({lang}) at {{_time.perf_counter() - _start:.1f}} s',"
                     " flush=True)")
        if lang == "python":
            parts.append(code)
        else:
            parts.append(f"subprocess.run({code!r}, shell=True, check=True, "
                         "executable='/bin/bash')")
    return "\n".join(parts) + "\n"


def _environment(work: Path) -> dict[str, str]:
    env = dict(os.environ, XGENDA_CACHE=str(work / "cache"), MPLBACKEND="Agg")
    from xgenda.prior import demo_prior_path

    if not (demo_prior_path() / "config.json").exists():
        stand_in = work / "stand_in_prior"
        print(f"demo prior weights missing: training a stand-in prior in {stand_in}",
              flush=True)
        code = f"OUTPUT = {str(stand_in)!r}\n" + textwrap.dedent(_STAND_IN)
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
        site = work / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(_SITECUSTOMIZE)
        env["XGENDA_DOCS_DEMO_PRIOR"] = str(stand_in)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH"))
                                            if p)
    return env


def main(argv: list[str]) -> int:
    verbose = "-v" in argv
    pages = [Path(p) for p in argv if p != "-v"] or sorted(DOCS.glob("*.md"))
    failed = []
    with tempfile.TemporaryDirectory(prefix="xgenda-docs-") as tmp:
        work = Path(tmp)
        env = _environment(work)
        for page in pages:
            todo = blocks(page)
            if not todo:
                continue
            run_dir = work / page.stem
            run_dir.mkdir()
            code = script(todo)
            (run_dir / "snippets.py").write_text(code)
            start = time.perf_counter()
            # Run as `python -c`, as in a notebook: processes that dask.distributed spawns
            # do not re-run the page (they would for a script file without a __main__ guard).
            runner = "exec(compile(open('snippets.py').read(), 'snippets.py', 'exec'))"
            result = subprocess.run([sys.executable, "-c", runner], cwd=run_dir, env=env,
                                    capture_output=True, text=True)
            seconds = time.perf_counter() - start
            status = "ok" if result.returncode == 0 else "FAILED"
            print(f"{page.name}: {len(todo)} block(s), {status} in {seconds:.1f} s", flush=True)
            if result.returncode != 0:
                failed.append(page.name)
                print(result.stdout[-4000:], result.stderr[-6000:], sep="\n")
            elif verbose:
                print(result.stdout)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
