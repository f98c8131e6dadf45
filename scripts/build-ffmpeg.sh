#!/usr/bin/env bash
# Builds an ffmpeg (and ffprobe) with the cuframes input, `ffmpeg -i cuframes://KEY`
# (docs/ffmpeg.md), out of the checkout into build/ffmpeg/:
#   1. libcuframes, built with CMake and installed into build/ffmpeg/cuframes
#      (or the one at CUFRAMES_PREFIX: include/cuframes/cuframes.h, lib/libcuframes.so);
#   2. FFmpeg's source, pinned: Debian 12's FFmpeg 5.1.9 (the upstream tarball of its
#      source package, by apt-get source with a private deb-src list: no root, no change
#      to the system's apt sources), checked against its SHA-256; or FFMPEG_SRC, a tarball
#      or unpacked tree of the same version, for offline builds;
#   3. ffmpeg/0001-avdevice-cuframes-input.patch applied, a minimal configure
#      (--disable-everything plus what the tests and the docs' pipelines use; CUDA,
#      NVDEC and NVENC when ffnvcodec's headers are installed, scale_cuda when clang is too,
#      libx264 when libx264-dev is, x86 assembly when nasm is), make;
#   4. build/ffmpeg/bin/ffmpeg and ffprobe, checked to list the cuframes input.
# Idempotent: a second run reuses the source tree, configure and objects while the
# patch, the flags and the library are unchanged. Environment: JOBS, PYTHON (whose
# nvidia-cuda-runtime wheel gives cuda.h to the library's build), FFMPEG_SRC,
# CUFRAMES_PREFIX, FFMPEG_CUDA=auto|0|1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

FFMPEG_VERSION=5.1.9
DEBIAN_VERSION=7:5.1.9-0+deb12u1
ORIG_TARBALL=ffmpeg_${FFMPEG_VERSION}.orig.tar.xz
ORIG_SHA256=d9b593bb2ba93d4b50f74177e0cdcd41747e708596367deed0c30348a71dd176
PATCH=$ROOT/ffmpeg/0001-avdevice-cuframes-input.patch
OUT=$ROOT/build/ffmpeg
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

# ---- 2. the source, unpacked fresh when the patch changed
PATCH_SUM=$(sha256sum "$PATCH" | cut -d' ' -f1)
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
            step "source: apt-get source ffmpeg=$DEBIAN_VERSION (Debian 12, deb-src)"
            need apt-get "give FFMPEG_SRC=path/to/$ORIG_TARBALL (or an unpacked tree) instead"
            apt_dir=$OUT/apt
            mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$OUT/download"
            cat >"$apt_dir/deb-src.sources" <<EOF
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
            apt_options=(-o "Dir::Etc::SourceList=$apt_dir/deb-src.sources" -o "Dir::Etc::SourceParts=$apt_dir/none"
                -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "APT::Sandbox::User=root")
            apt-get "${apt_options[@]}" update -q >"$OUT/apt.log" 2>&1 ||
                die "apt-get update of the deb-src list failed (log: $OUT/apt.log)"
            (cd "$OUT/download" && apt-get "${apt_options[@]}" source --download-only -q "ffmpeg=$DEBIAN_VERSION") \
                >>"$OUT/apt.log" 2>&1 ||
                die "apt-get source ffmpeg=$DEBIAN_VERSION failed (log: $OUT/apt.log): the mirror may have moved on" \
                    "to a newer Debian revision; give FFMPEG_SRC=path/to/$ORIG_TARBALL"
        fi
        [ -f "$tarball" ] || die "no FFmpeg source at $tarball"
        echo "$ORIG_SHA256  $tarball" | sha256sum -c --quiet - ||
            die "$tarball is not the pinned $ORIG_TARBALL (SHA-256 differs)"
        step "source: unpacking $tarball"
        tar -xJf "$tarball" --no-same-owner --strip-components=1 -C "$SRC.tmp" || die "unpacking $tarball failed"
    fi
    step "applying $(basename "$PATCH")"
    patch -d "$SRC.tmp" -p1 --quiet --forward <"$PATCH" || die "the patch does not apply to FFmpeg $FFMPEG_VERSION"
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
