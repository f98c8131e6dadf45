#!/usr/bin/env bash
# Builds an ffmpeg (and ffprobe) with the cuframes input, `ffmpeg -i cuframes://KEY`
# (docs/ffmpeg.md), out of the checkout:
#   1. libcuframes, built with CMake and installed into <out>/cuframes
#      (or the one at CUFRAMES_PREFIX: include/cuframes/cuframes.h, lib/libcuframes.so);
#   2. FFmpeg's source, pinned: the upstream tarball of a Debian source package, from the
#      Debian mirror's pool, checked against its SHA-256; or FFMPEG_SRC, a tarball or
#      unpacked tree of the same version, for offline builds;
#   3. ffmpeg/register-<series>.patch applied and ffmpeg/cuframes.c copied in as
#      libavdevice/cuframes.c, a minimal configure
#      (--disable-everything plus what the tests and the docs' pipelines use; CUDA,
#      NVDEC and NVENC when ffnvcodec's headers are installed, scale_cuda when clang is too,
#      libx264 when libx264-dev is, x86 assembly when nasm is), make;
#   4. <out>/bin/ffmpeg and ffprobe, checked to list the cuframes input.
# FFMPEG_SERIES picks the FFmpeg (ffmpeg/README.md): 5.1 (default: Debian 12's 5.1.9, what CI
# builds; <out> is build/ffmpeg), 7.1 (Debian 13's 7.1.5) or 8.1 (8.1.2, Debian unstable's);
# <out> is build/ffmpeg-<series> for those.
# Idempotent: a second run reuses the source tree, configure and objects while the
# input, the flags and the library are unchanged. Environment: JOBS, PYTHON (whose
# nvidia-cuda-runtime wheel gives cuda.h to the library's build), FFMPEG_SERIES, FFMPEG_SRC,
# CUFRAMES_PREFIX, FFMPEG_CUDA=auto|0|1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SERIES=${FFMPEG_SERIES:-5.1}
# One row per series: the version, and the SHA-256 of its upstream tarball in Debian's pool
# (pool/main/f/ffmpeg/ffmpeg_<version>.orig.tar.xz, the same bytes as ffmpeg.org's release).
case $SERIES in
    5.1) FFMPEG_VERSION=5.1.9 ORIG_SHA256=d9b593bb2ba93d4b50f74177e0cdcd41747e708596367deed0c30348a71dd176 ;;
    7.1) FFMPEG_VERSION=7.1.5 ORIG_SHA256=de668509caf9e35e3cd162473441fdb29538c6d96ed080292b3cf9e6fc5d558f ;;
    8.1) FFMPEG_VERSION=8.1.2 ORIG_SHA256=464beb5e7bf0c311e68b45ae2f04e9cc2af88851abb4082231742a74d97b524c ;;
    *) echo "build-ffmpeg.sh: FFMPEG_SERIES is 5.1, 7.1 or 8.1, not '$SERIES'" >&2; exit 2 ;;
esac
DEBIAN_POOL=${DEBIAN_MIRROR:-http://deb.debian.org/debian}/pool/main/f/ffmpeg
ORIG_TARBALL=ffmpeg_${FFMPEG_VERSION}.orig.tar.xz
REGISTER=$ROOT/ffmpeg/register-$SERIES.patch
INPUT=$ROOT/ffmpeg/cuframes.c
OUT=$ROOT/build/ffmpeg
[ "$SERIES" = 5.1 ] || OUT=$ROOT/build/ffmpeg-$SERIES
SRC=$OUT/ffmpeg-$FFMPEG_VERSION
JOBS=${JOBS:-$(nproc)}

die() {
    echo "build-ffmpeg.sh: error: $*" >&2
    exit 1
}
step() { echo "== build-ffmpeg.sh: $*"; }
need() { command -v "$1" >/dev/null || die "$1 is missing: $2"; }

need make "apt-get install build-essential"
need cc "apt-get install build-essential"
need pkg-config "apt-get install pkg-config"
mkdir -p "$OUT"

# ---- 1. libcuframes
if [ -n "${CUFRAMES_PREFIX:-}" ]; then
    PREFIX=$(cd "$CUFRAMES_PREFIX" && pwd)
else
    PREFIX=$OUT/cuframes
    need cmake "apt-get install cmake"
    python=$(command -v "${PYTHON:-python3}") || die "no ${PYTHON:-python3} (set PYTHON)"
    if [ ! -f "${CUDA_HOME:-/usr/local/cuda}/include/cuda.h" ] && [ -n "${PYTHON:-}" ]; then
        # cuda.h (headers only) for the library's build, as scripts/test.sh gets it.
        "$python" -m pip install -q nvidia-cuda-runtime || die "pip install nvidia-cuda-runtime (for cuda.h) failed"
    fi
    step "libcuframes (CMake, Release) -> $PREFIX"
    cmake -S "$ROOT" -B "$OUT/cuframes-build" -DCMAKE_BUILD_TYPE=Release -DCUFRAMES_BUILD_PYTHON=OFF \
        -DCUFRAMES_BUILD_TESTS=OFF -DCUFRAMES_BUILD_EXAMPLES=OFF -DCMAKE_INSTALL_PREFIX="$PREFIX" \
        -DCMAKE_INSTALL_LIBDIR=lib -DPython_EXECUTABLE="$python" >"$OUT/cuframes-cmake.log" ||
        die "configuring libcuframes failed (log: $OUT/cuframes-cmake.log; cuda.h: pip install nvidia-cuda-runtime)"
    cmake --build "$OUT/cuframes-build" -j "$JOBS" >"$OUT/cuframes-build.log" ||
        die "building libcuframes failed (log: $OUT/cuframes-build.log)"
    cmake --install "$OUT/cuframes-build" >/dev/null || die "installing libcuframes into $PREFIX failed"
fi
if [ ! -f "$PREFIX/include/cuframes/cuframes.h" ] || [ ! -e "$PREFIX/lib/libcuframes.so" ]; then
    die "no include/cuframes/cuframes.h and lib/libcuframes.so under $PREFIX"
fi

# ---- 2. the source, unpacked fresh when the input or its registration changed
PATCH_SUM=$(cat "$REGISTER" "$INPUT" | sha256sum | cut -d' ' -f1)
if [ ! -f "$SRC/.cuframes-patch" ] || [ "$(cat "$SRC/.cuframes-patch")" != "$PATCH_SUM" ]; then
    rm -rf "$SRC" "$SRC.tmp"
    mkdir -p "$SRC.tmp"
    if [ -n "${FFMPEG_SRC:-}" ] && [ -d "$FFMPEG_SRC" ]; then
        step "source: the tree $FFMPEG_SRC"
        grep -qx "$FFMPEG_VERSION" "$FFMPEG_SRC/VERSION" 2>/dev/null ||
            die "$FFMPEG_SRC is not FFmpeg $FFMPEG_VERSION (its VERSION file says otherwise)"
        cp -a "$FFMPEG_SRC/." "$SRC.tmp/"
    else
        tarball=${FFMPEG_SRC:-$OUT/download/$ORIG_TARBALL}
        if [ -z "${FFMPEG_SRC:-}" ] && [ ! -f "$tarball" ]; then
            step "source: $DEBIAN_POOL/$ORIG_TARBALL"
            need curl "apt-get install curl, or give FFMPEG_SRC=path/to/$ORIG_TARBALL (or an unpacked tree)"
            mkdir -p "$OUT/download"
            curl -fsS --retry 3 --retry-delay 5 -o "$tarball.part" "$DEBIAN_POOL/$ORIG_TARBALL" ||
                die "downloading $ORIG_TARBALL failed: Debian's pool may have moved on to a newer release;" \
                    "give FFMPEG_SRC=path/to/$ORIG_TARBALL"
            # Checked before it is kept: a bad download must not stay cached.
            echo "$ORIG_SHA256  $tarball.part" | sha256sum -c --quiet - ||
                { rm -f "$tarball.part"; die "the download of $ORIG_TARBALL is not the pinned one (SHA-256 differs)"; }
            mv "$tarball.part" "$tarball"
        fi
        [ -f "$tarball" ] || die "no FFmpeg source at $tarball"
        echo "$ORIG_SHA256  $tarball" | sha256sum -c --quiet - ||
            die "$tarball is not the pinned $ORIG_TARBALL (SHA-256 differs)"
        step "source: unpacking $tarball"
        tar -xJf "$tarball" --no-same-owner --strip-components=1 -C "$SRC.tmp" || die "unpacking $tarball failed"
    fi
    step "applying $(basename "$REGISTER") and adding libavdevice/cuframes.c"
    patch -d "$SRC.tmp" -p1 --quiet --forward <"$REGISTER" || die "$(basename "$REGISTER") does not apply to FFmpeg $FFMPEG_VERSION"
    cp "$INPUT" "$SRC.tmp/libavdevice/cuframes.c"
    echo "$PATCH_SUM" >"$SRC.tmp/.cuframes-patch"
    mv "$SRC.tmp" "$SRC"
fi

# ---- 3. configure (again only when the flags changed) and make
decoders=wrapped_avframe,rawvideo,h264,hevc
encoders=rawvideo,wrapped_avframe
# lavfi's test sources and setparams: the tests make their patterns with this ffmpeg too, so an
# offline GPU machine without a system ffmpeg runs them with this one on its PATH.
filters=scale,format,null,copy,fps,hwupload,hwdownload,setpts,trim,testsrc,testsrc2,setparams
# shellcheck disable=SC2054 # the commas are FFmpeg's lists, inside one argument each
flags=(--disable-everything --disable-autodetect --disable-doc --disable-ffplay --disable-debug
    --enable-libcuframes --enable-indev=cuframes,lavfi
    --enable-demuxer=rawvideo,h264,hevc,mov,matroska,mpegts
    --enable-muxer=framemd5,framecrc,null,mp4,mov,matroska,mpegts,rawvideo,h264,hevc,segment
    --enable-parser=h264,hevc --enable-bsf=h264_mp4toannexb,hevc_mp4toannexb,extract_extradata,null
    --enable-protocol=file,pipe
    --extra-cflags="-I$PREFIX/include" --extra-ldflags="-L$PREFIX/lib -Wl,-rpath,$PREFIX/lib")
if ! command -v nasm >/dev/null; then
    # A machine without the package (an offline GPU box) still builds, with slower C paths.
    echo "build-ffmpeg.sh: no nasm (apt-get install nasm): building without FFmpeg's x86 assembly"
    flags+=(--disable-x86asm)
fi
if pkg-config --exists x264; then
    flags+=(--enable-gpl --enable-libx264)
    encoders+=,libx264
else
    echo "build-ffmpeg.sh: no libx264 (apt-get install libx264-dev): building without it"
fi
# CUDA frames, NVDEC and NVENC need ffnvcodec's headers (header-only: an offline machine can
# take a copy through PKG_CONFIG_PATH); scale_cuda's kernels also need clang (cuda-llvm).
cuda=${FFMPEG_CUDA:-auto}
# FFmpeg 7 and 8 want ffnvcodec 11.1.5.3 or newer, and Debian 12 has 11.1.5.2. The headers are
# only headers: take Debian 13's (libffmpeg-nvenc-dev, unpacked by scripts/debian_closure.py)
# where the system's are older.
if [ "$cuda" != 0 ] && [ "$SERIES" != 5.1 ] && pkg-config --exists ffnvcodec &&
    ! pkg-config --atleast-version=11.1.5.3 ffnvcodec; then
    step "ffnvcodec $(pkg-config --modversion ffnvcodec) is too old for FFmpeg $SERIES: Debian 13's headers"
    nv_root=$("${PYTHON:-python3}" "$ROOT/scripts/debian_closure.py" --cache "$OUT/debian" \
        --unpack libffmpeg-nvenc-dev | tail -n 1) || die "fetching Debian 13's libffmpeg-nvenc-dev failed"
    mkdir -p "$OUT/ffnvcodec"
    sed "s|^prefix=.*|prefix=$nv_root/usr|" "$nv_root/usr/share/pkgconfig/ffnvcodec.pc" >"$OUT/ffnvcodec/ffnvcodec.pc"
    export PKG_CONFIG_PATH=$OUT/ffnvcodec${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
fi
if [ "$cuda" = auto ]; then
    cuda=0
    pkg-config --exists ffnvcodec && cuda=1
    [ "$cuda" = 1 ] || echo "build-ffmpeg.sh: no ffnvcodec headers (apt-get install libffmpeg-nvenc-dev): building without CUDA"
fi
if [ "$cuda" = 1 ]; then
    # shellcheck disable=SC2054
    flags+=(--enable-ffnvcodec --enable-cuda --enable-nvdec --enable-nvenc --enable-cuvid
        --enable-hwaccel=h264_nvdec,hevc_nvdec --enable-decoder=h264_cuvid,hevc_cuvid)
    encoders+=,h264_nvenc,hevc_nvenc
    filters+=,hwupload_cuda
    if command -v clang >/dev/null; then
        flags+=(--enable-cuda-llvm)
        filters+=,scale_cuda
    else
        echo "build-ffmpeg.sh: no clang (apt-get install clang): building without scale_cuda"
    fi
fi
flags+=(--enable-decoder="$decoders" --enable-encoder="$encoders" --enable-filter="$filters")

BUILD=$OUT/build
configured="${flags[*]}"
if [ ! -f "$BUILD/.cuframes-configured" ] || [ "$(cat "$BUILD/.cuframes-configured")" != "$configured" ] ||
    [ "$SRC/.cuframes-patch" -nt "$BUILD/.cuframes-configured" ]; then
    rm -rf "$BUILD"
    mkdir -p "$BUILD"
    step "configure (log: $BUILD/configure.log)"
    start=$SECONDS
    (cd "$BUILD" && "$SRC/configure" "${flags[@]}" >"$BUILD/configure.log" 2>&1) ||
        die "FFmpeg's configure failed: see $BUILD/configure.log and $BUILD/ffbuild/config.log"
    echo "build-ffmpeg.sh: configured in $((SECONDS - start)) s"
    echo "$configured" >"$BUILD/.cuframes-configured"
fi
step "make -j$JOBS (log: $BUILD/make.log)"
start=$SECONDS
make -C "$BUILD" -j "$JOBS" ffmpeg ffprobe >"$BUILD/make.log" 2>&1 ||
    { tail -30 "$BUILD/make.log" >&2; die "building FFmpeg failed (log: $BUILD/make.log)"; }
echo "build-ffmpeg.sh: built in $((SECONDS - start)) s"

# ---- 4. the binaries
mkdir -p "$OUT/bin"
cp -f "$BUILD/ffmpeg" "$BUILD/ffprobe" "$OUT/bin/"
"$OUT/bin/ffmpeg" -hide_banner -formats 2>/dev/null | grep -q ' cuframes ' ||
    die "$OUT/bin/ffmpeg runs but lists no cuframes input"
echo "build-ffmpeg.sh: $OUT/bin/ffmpeg (CUFRAMES_FFMPEG=$OUT/bin/ffmpeg for tests/test_ffmpeg_input.py; CUDA: $cuda)"
