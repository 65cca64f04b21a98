"""Homophone correction: our small corrector (engine.pinyin) against pycorrector's proper-noun one.

Usage: .venv/bin/python scripts/bench_corrector.py [--pycorrector-path DIR]

pycorrector is not a dependency (its package import pulls torch, transformers and pandas); to
compare, install it somewhere apart, e.g. `pip install --target /tmp/pyc pycorrector loguru
pyahocorasick six pandas`, and pass that folder. Prints import time, peak RSS and per-query
time of each, and what each makes of the same typos, using the shipped index's vocabulary.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TYPOS = ["客服油箱", "冲值没到账", "密吗错误", "账号被道了", "退宽多久到", "登路不上去", "定单查不到"]

OURS = """
import resource, sys, time
sys.path.insert(0, {root!r})
t = time.time()
from helpcenter.config import load_settings
from helpcenter.engine.index import load_current
from helpcenter.engine.text import normalise
idx = load_current(__import__("pathlib").Path(load_settings().index_dir))
print(f"load {{time.time() - t:.2f}}s, peak RSS {{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}} MB "
      "(the whole index: the corrector itself is its sound table)")
for q in {typos!r}:
    t = time.perf_counter(); fixed = idx.pinyin.correct(normalise(q)); ms = (time.perf_counter() - t) * 1000
    print(f"  {{q}} -> {{fixed}}  {{ms:.2f}} ms")
"""

THEIRS = """
import resource, sys, time
sys.path.insert(0, {path!r})
t = time.time()
from pycorrector.proper_corrector import ProperCorrector
print(f"import {{time.time() - t:.2f}}s, peak RSS {{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}} MB")
sys.path.insert(0, {root!r})
from helpcenter.config import load_settings
from helpcenter.engine.index import load_current
idx = load_current(__import__("pathlib").Path(load_settings().index_dir))
import tempfile
f = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8")
f.write("\\n".join(w for w in idx.pinyin.corpus if len(w) >= 2)); f.close()
pc = ProperCorrector(proper_name_path=f.name)
for q in {typos!r}:
    t = time.perf_counter(); fixed = pc.correct(q)["target"]; ms = (time.perf_counter() - t) * 1000
    print(f"  {{q}} -> {{fixed}}  {{ms:.2f}} ms")
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pycorrector-path", help="a folder where pycorrector is installed (pip --target)")
    args = ap.parse_args()
    print("ours (engine.pinyin.PinyinVocab.correct):")
    subprocess.run([sys.executable, "-c", OURS.format(root=str(ROOT), typos=TYPOS)], check=True, cwd=ROOT)
    if args.pycorrector_path:
        print("pycorrector ProperCorrector (our corpus words as its proper names):")
        subprocess.run([sys.executable, "-c", THEIRS.format(path=args.pycorrector_path, root=str(ROOT), typos=TYPOS)],
                       check=True, cwd=ROOT)


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
