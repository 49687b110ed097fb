#!/usr/bin/env bash
# Packs what the benchmarks need to run on a machine without Swift, ZeroMQ or Debian's packages
# (a lent many-core machine with only Python 3 and numpy): the release binary, the shared
# libraries it loads (glibc's aside), Debian's OpenBLAS, oneDNN (for the bf16 similarity) and,
# where pip can fetch it, PyPI's OpenBLAS (the library the container image loads), the two
# benchmark scripts and the numpy reference.
#
#   bash Scripts/pack-bench.sh [ARCHIVE]            (default .build/bench-pack.tar.xz)
#
# There:  tar xJf bench-pack.tar.xz && bench-pack/run.sh [core|profile|bf16|scale|shared|all]
#   core:    Scripts/bench-core.sh --threads 1,2,4,...,cores (time, efficiency, numpy / Swift,
#            and each case's parallel shape)
#   profile: where the time goes on all cores (perf, packed from here when it is installed):
#            AnyRes and video by symbol, then by thread
#   bf16:    the three cases on all cores with bf16 products against f32 (AMX or AVX512-BF16),
#            then bench-scale.sh in bf16 (AnyRes, 1, 4, 8 and 12 workers)
#   scale:   Scripts/bench-scale.sh (single-thread workers pinned one a core, AnyRes and video)
#   shared:  the same with the tensors in the load generator's shared memory (AnyRes, 1, 4, 8
#            and 12 workers; not part of all)
# Environment for run.sh: BLAS=debian to load Debian's OpenBLAS instead of PyPI's; what
# bench-scale.sh reads (WORKERS, DURATION, KINDS, TRANSFER, SOCKETS, SIMILARITY).
set -euo pipefail
cd "$(dirname "$0")/.."
archive=$(realpath -m "${1:-.build/bench-pack.tar.xz}")
swift build -c release --static-swift-stdlib --product script-cluster >&2
bin="$(swift build -c release --show-bin-path)/script-cluster"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pack="$stage/bench-pack"
mkdir -p "$pack/bin" "$pack/lib" "$pack/blas" "$pack/Scripts"
cp "$bin" "$pack/bin/"
cp Scripts/bench-core.sh Scripts/bench-scale.sh Scripts/reference.py "$pack/Scripts/"

# Every shared library the binary and Debian's OpenBLAS load, but glibc's own.
openblas=$(ldconfig -p | awk '/libopenblas\.so\.0 / {print $NF; exit}')
[ -n "$openblas" ] || { echo "pack-bench: Debian's OpenBLAS (libopenblas0) is not installed" >&2; exit 2; }
dnnl=$(ldconfig -p | awk '/libdnnl\.so\.2 / {print $NF; exit}')
[ -n "$dnnl" ] || echo "pack-bench: oneDNN (libdnnl2) is not installed; the pack cannot time bf16 products" >&2
for lib in $( { ldd "$bin"; ldd "$openblas"; [ -z "$dnnl" ] || ldd "$dnnl"; } | awk '/=> \// {print $3}' | sort -u); do
    case "$(basename "$lib")" in
        libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|libresolv.so.*|ld-linux*) ;;
        *) cp -L "$lib" "$pack/lib/" ;;
    esac
done
cp -L "$openblas" "$pack/lib/libopenblas.so.0"
[ -z "$dnnl" ] || cp -L "$dnnl" "$pack/lib/libdnnl.so.2"

# PyPI's OpenBLAS, when pip can fetch it (the benchmarks then report both libraries' names).
wheel="$stage/wheel"
if python3 -m pip download -q --no-deps --only-binary=:all: -d "$wheel" scipy-openblas32==0.3.34.481.3 2>/dev/null; then
    python3 -m zipfile -e "$wheel"/scipy_openblas32-*.whl "$wheel/x"
    cp "$wheel/x/scipy_openblas32/lib/libscipy_openblas.so" "$pack/blas/"
else
    echo "pack-bench: pip could not fetch scipy-openblas32; the pack runs Debian's OpenBLAS" >&2
fi

# perf and the libraries it loads, when this machine has it (a lent machine may not).
if perf=$(command -v perf) && "$perf" version >/dev/null 2>&1; then
    mkdir -p "$pack/perf"
    cp -L "$perf" "$pack/perf/perf"
    for lib in $(ldd "$perf" | awk '/=> \// {print $3}' | sort -u); do
        case "$(basename "$lib")" in
            libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|libresolv.so.*|ld-linux*) ;;
            *) cp -L "$lib" "$pack/perf/" ;;
        esac
    done
fi

cat > "$pack/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs the packed benchmarks here: run.sh [core|profile|bf16|scale|all] (all by default).
set -euo pipefail
cd "$(dirname "$0")"
export LD_LIBRARY_PATH="$PWD/lib" BIN="$PWD/bin/script-cluster"
if [ "${BLAS:-pypi}" != debian ] && [ -f blas/libscipy_openblas.so ]; then LD_LIBRARY_PATH="$PWD/blas:$LD_LIBRARY_PATH"; fi
cores=$(nproc); list=1; t=2
while [ "$t" -lt "$cores" ]; do list="$list,$t"; t=$((t * 2)); done
[ "$cores" -eq 1 ] || list="$list,$cores"
profile() {
    [ -x perf/perf ] || { echo "run.sh: no perf in this pack (it had none where it was packed)"; return 0; }
    local p="env LD_LIBRARY_PATH=$PWD/perf:$LD_LIBRARY_PATH perf/perf" data
    data=$(mktemp)
    $p record -F 499 -o "$data" -- "$BIN" bench --threads "$cores" --cases anyres,video --repeats 5 --no-numpy >/dev/null 2>&1
    echo "where the time goes on $cores threads (AnyRes and video), by symbol:"
    $p report -i "$data" --no-children --sort symbol 2>/dev/null | grep -v '^#' | grep -v '^$' | head -30 | cut -c1-140
    echo "by thread:"
    $p report -i "$data" --no-children --sort tid 2>/dev/null | grep -v '^#' | grep -v '^$' | head -20 | cut -c1-140
    rm -f "$data"
}
case "${1:-all}" in
    core) bash Scripts/bench-core.sh --threads "$list" ;;
    profile) profile ;;
    bf16) "$BIN" bench --threads "$cores" --no-numpy --repeats 5 --similarity bf16 | grep -E '^(BLAS|bf16|CPU|machine)|^[a-z].*:|bf16 similarity'
          SIMILARITY=bf16 KINDS=anyres WORKERS="${WORKERS:-1 4 8 12}" DURATION=${DURATION:-8} bash Scripts/bench-scale.sh ;;
    scale) bash Scripts/bench-scale.sh ;;
    shared) TRANSFER=shared KINDS=${KINDS:-anyres} WORKERS="${WORKERS:-1 4 8 12}" DURATION=${DURATION:-8} bash Scripts/bench-scale.sh ;;
    all) bash Scripts/bench-core.sh --threads "$list"; profile; "$0" bf16 || true; bash Scripts/bench-scale.sh ;;
    *) echo "run.sh: unknown part '$1' (core, profile, bf16, scale, shared or all)" >&2; exit 2 ;;
esac
RUN
chmod +x "$pack/run.sh"
mkdir -p "$(dirname "$archive")"
tar -C "$stage" -cJf "$archive" bench-pack
echo "$archive ($(du -h "$archive" | cut -f1)): tar xJf it there, then bench-pack/run.sh"
