# The Debian package for C and C++ users (scripts/build-deb.sh runs `cpack -G DEB` on a
# Release build installed to /usr): libcuframes.so with its SONAME links, the headers, the
# CMake package (find_package(cuframes)) and the C examples' sources in
# /usr/share/doc/cuframes/examples/c. One package, no -dev split: it is small.
# Dependencies come from dpkg-shlibdeps (libc6, libstdc++6, libgcc-s1 at the versions the
# build machine's symbols need). libcuda is dlopened at run time, so it is not a dependency.
#
# Hook for the GStreamer plugin and the FFmpeg patch: install() them with
# COMPONENT gstreamer / COMPONENT ffmpeg: the package is monolithic (CPack's default for
# DEB), so every component's files go into it with nothing to change here.
file(GLOB _cuframes_c_examples CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/examples/c/*.c")
install(FILES "${PROJECT_SOURCE_DIR}/examples/c/CMakeLists.txt" ${_cuframes_c_examples}
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples/c)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME cuframes)
set(CPACK_PACKAGE_VENDOR cuframes)
set(CPACK_PACKAGE_CONTACT "cuframes developers")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "Shares decoded video frames zero-copy between processes (CUDA VMM or host memory).\n\
C ABI (cuframes/cuframes.h), C++ API and CMake package; the C examples' sources are in\n\
/usr/share/doc/cuframes/examples/c. The cuda backend loads the NVIDIA driver at run time.")
# ldconfig after install and removal (the library lands in the multiarch folder).
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
include(CPack)
