"""The physicist's path on whole files: ``zeroad fit``, ``zeroad evaluate`` and a mass scan.

Runs the commands of docs/physics-guide.md ("From ROOT files to a physics result")
on the complete CMS 2012 tutorial files in ``--data-dir`` (train on WW and WZ with
their ``EventWeight``, evaluate on ZZ and QCD against single top) for each detector
given, then a mass scan over toy mediator signal samples written as ROOT files
(300 to 700 GeV, independent of the training events). Everything goes to ``--out``:
each report page (``NAME.html``), what each command printed (``NAME.txt``) and
``README.md`` with the commands and their tables; the model files and the toy ROOT
files are deleted at the end (the command remakes them).

    python benchmarks/physics_path.py --data-dir ../shared/data \\
        --out benchmarks/results/physics_path --detectors pca knn ocdnn
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from pathlib import Path

from studylib import run_script

from zeroad.cli import main as zeroad
from zeroad.data.toy import mediator

RECIPE = "events:recipe=cms_tutorial"
MASSES = (300, 400, 500, 600, 700)


def run(argv: list[str], log: Path) -> str:
    """``zeroad ARGV``; what it printed is returned and written to ``log``."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = zeroad(argv)
    text = buffer.getvalue()
    log.write_text("$ zeroad " + " ".join(argv) + "\n" + text)
    if code != 0:
        raise SystemExit(f"zeroad {' '.join(argv)} exited with {code}:\n{text}")
    return text


def write_root(path: Path, X, names) -> None:
    import uproot

    with uproot.recreate(path) as f:
        f["events"] = {name: X[:, j] for j, name in enumerate(names)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="folder with hep/cms_heptutorial2012")
    parser.add_argument("--out", required=True)
    parser.add_argument("--detectors", nargs="+", default=["pca", "knn", "ocdnn"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cms = Path(args.data_dir) / "hep" / "cms_heptutorial2012"
    command = "python benchmarks/physics_path.py " + " ".join(argv or sys.argv[1:])
    readme = ["# The physicist's path on whole files", "", f"Produced by `{command}`.", ""]

    for detector in args.detectors:
        model = out / f"cms_{detector}.zad"
        fit = ["fit", f"root:{cms}/w*.root:{RECIPE}", "--weight", "EventWeight",
               "--detector", detector, "--out", str(model), "--overwrite"]
        evaluate = ["evaluate", str(model), "--background", f"root:{cms / 'zz.root'}:{RECIPE}",
                    f"root:{cms / 'qcd.root'}:{RECIPE}", "--signal",
                    f"root:{cms / 'single_top.root'}:{RECIPE}", "--weight", "EventWeight",
                    "--seed", str(args.seed), "--report", str(out / f"cms_{detector}.html")]
        fitted = run(fit, out / f"cms_{detector}_fit.txt")
        table = run(evaluate, out / f"cms_{detector}.txt")
        readme += [f"## CMS tutorial files, {detector}", "", "```", "$ zeroad " + " ".join(fit),
                   fitted.strip(), "$ zeroad " + " ".join(evaluate), table.strip(), "```", ""]

    # A signal grid the model never saw, as ROOT files: the toy mediator.
    X, y, names = mediator(400, seed=args.seed + 1, n_background=40000, n_signal=1)
    write_root(out / "sm_train.root", X[y == 0][:20000], names)
    write_root(out / "sm_test.root", X[y == 0][20000:], names)
    signals = []
    for mass in MASSES:
        X, y, names = mediator(mass, seed=args.seed + mass, n_background=1, n_signal=4000)
        write_root(out / f"mediator_{mass}.root", X[y == 1], names)
        signals.append(f"{mass}=root:{out / f'mediator_{mass}.root'}:events")
    for detector in args.detectors:
        model = out / f"toy_{detector}.zad"
        fit = ["fit", f"root:{out / 'sm_train.root'}:events", "--detector", detector,
               "--out", str(model), "--overwrite"]
        scan = ["evaluate", str(model), "--background", f"root:{out / 'sm_test.root'}:events",
                "--signal", *signals, "--seed", str(args.seed),
                "--report", str(out / f"toy_{detector}.html")]
        fitted = run(fit, out / f"toy_{detector}_fit.txt")
        table = run(scan, out / f"toy_{detector}.txt")
        readme += [f"## Mass scan over toy mediator samples, {detector}", "", "```",
                   "$ zeroad " + " ".join(fit), fitted.strip(), "$ zeroad " + " ".join(scan),
                   table.strip(), "```", ""]
    for path in [*out.glob("*.root"), *out.glob("*.zad")]:
        path.unlink()  # inputs and models: the command regenerates them
    (out / "README.md").write_text("\n".join(readme))
    print("\n".join(readme))
    return 0


if __name__ == "__main__":
    sys.exit(run_script(main))
