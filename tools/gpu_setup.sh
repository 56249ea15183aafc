# Make a bare GPU machine (Python 3.12, its own PyTorch, no network) ready to run this project from the
# working tree: install the wheels tools/gpu_wheels.sh downloaded (.whl/gpu) into /tmp/site, without
# touching its torch or numpy, and put them and the checkout on PYTHONPATH (no build step: `perception` runs
# as `python3 -m perception.cli.main`, which is what tools/gpu_check.py uses). Source it, so the PYTHONPATH
# stays set:
#
#   source tools/gpu_setup.sh && python3 tools/gpu_check.py --out /tmp/gpu_check
#
# tools/gpu_session.sh does this, runs a suite and packs what the device tool can bring back (carry .whl).
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
site="${GPU_SITE:-/tmp/site}"
if ! ls "$repo"/.whl/gpu/*.whl > /dev/null 2>&1; then
  echo "gpu_setup: no wheels in $repo/.whl/gpu: run bash tools/gpu_wheels.sh where PyPI is reachable" >&2
  return 1 2> /dev/null || exit 1
fi
# A warm machine's second call finds the same wheels already installed: the list of wheel names says so
wanted="$(cd "$repo"/.whl/gpu && ls *.whl | sort | tr '\n' ' ')"
if [ "$(cat "$site/.gpu_setup_wheels" 2> /dev/null)" != "$wanted" ]; then
  python3 -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" \
    "$repo"/.whl/gpu/*.whl || { return 1 2> /dev/null || exit 1; }
  echo "$wanted" > "$site/.gpu_setup_wheels"
  state="installed"
else
  state="found already installed"
fi
export PYTHONPATH="$repo:$site${PYTHONPATH:+:$PYTHONPATH}"
echo "gpu_setup: $state $(ls "$repo"/.whl/gpu/*.whl | wc -l) wheels in $site; PYTHONPATH=$PYTHONPATH"
