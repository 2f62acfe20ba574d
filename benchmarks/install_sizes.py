"""Run: python benchmarks/install_sizes.py (in the venv to measure). Size of each core dependency of nasxfer and of everything it pulls in, from installed metadata."""
import importlib.metadata as md
import re
from pathlib import Path

def norm(n): return re.sub(r"[-_.]+", "-", n).lower()
dists = {norm(d.metadata["Name"]): d for d in md.distributions()}
def size(d):
    total = 0
    for f in d.files or []:
        p = Path(d.locate_file(f))
        try: total += p.stat().st_size
        except OSError: pass
    return total
def reqs(d):
    out = []
    for r in d.requires or []:
        if "extra ==" in r: continue
        name = norm(re.split(r"[ ;<>=!~\[(]", r, 1)[0])
        if ";" in r:
            marker = r.split(";",1)[1]
            try:
                from packaging.markers import Marker
                if not Marker(marker).evaluate(): continue
            except Exception: pass
        out.append(name)
    return out
def closure(name, seen):
    if name in seen or name not in dists: return
    seen.add(name)
    for r in reqs(dists[name]): closure(r, seen)
sizes = {n: size(d) for n, d in dists.items()}
core = reqs(dists["nasxfer"])
allc = set()
for c in core: closure(c, allc)
print(f"{'dependency':16} {'own MB':>8} {'with its deps MB':>17}  pulls in")
for c in core:
    s = set(); closure(c, s)
    print(f"{c:16} {sizes[c]/1e6:8.0f} {sum(sizes[x] for x in s)/1e6:17.0f}  {', '.join(sorted(s - {c})) or '-'}")
print(f"all core deps together: {sum(sizes[x] for x in allc)/1e6:.0f} MB, {len(allc)} distributions")
nv = [x for x in allc if x.startswith("nvidia") or x in ("triton","cuda-bindings","cuda-pathfinder","cuda-toolkit")]
print(f"of which CUDA (nvidia-*, triton, cuda-*): {sum(sizes[x] for x in nv)/1e6:.0f} MB: {', '.join(sorted(nv))}")
print("largest:", ", ".join(f"{x} {sizes[x]/1e6:.0f}" for x in sorted(allc, key=lambda x: -sizes[x])[:8]))
