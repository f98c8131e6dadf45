# Toolchain of the manylinux_2_28 wheels (scripts/build-wheel.sh): zig's clang targeting
# glibc 2.28 (zig ships that glibc's symbol lists, so nothing newer is linked by mistake),
# with the system's libstdc++ linked statically instead of zig's libc++. libstdc++ keeps the
# C++ API of the wheel's libcuframes.so usable from g++-built programs (std::string and
# friends mangle alike) and compares type_info by name, so its copies in libcuframes.so and
# _core agree on exceptions. libgcc_s.so.1 (the unwinder) is on manylinux's allowed list.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER "${CMAKE_CURRENT_LIST_DIR}/zig-cc")
set(CMAKE_CXX_COMPILER "${CMAKE_CURRENT_LIST_DIR}/zig-c++")

# The system's libstdc++ (g++'s): its headers before zig's libc ones (-I: #include_next
# from <cstdlib> must reach libc's stdlib.h), the static library, and the unwinder.
execute_process(COMMAND g++ -dumpversion OUTPUT_VARIABLE _gxx_version OUTPUT_STRIP_TRAILING_WHITESPACE)
execute_process(COMMAND g++ -dumpmachine OUTPUT_VARIABLE _gxx_machine OUTPUT_STRIP_TRAILING_WHITESPACE)
execute_process(COMMAND g++ -print-file-name=libstdc++.a OUTPUT_VARIABLE _libstdcxx OUTPUT_STRIP_TRAILING_WHITESPACE)
execute_process(COMMAND g++ -print-file-name=libgcc_s.so.1 OUTPUT_VARIABLE _libgcc_s OUTPUT_STRIP_TRAILING_WHITESPACE)
set(_libstdcxx_include /usr/include/c++/${_gxx_version})
if(NOT _gxx_version OR NOT IS_DIRECTORY "${_libstdcxx_include}" OR NOT IS_ABSOLUTE "${_libstdcxx}")
  message(FATAL_ERROR "cmake/manylinux/toolchain.cmake needs g++'s libstdc++ (headers in ${_libstdcxx_include}, "
                      "libstdc++.a): apt-get install g++")
endif()

# compat.c: the few symbols libstdc++.a wants from a glibc newer than 2.28.
set(_compat "${CMAKE_BINARY_DIR}/manylinux-compat.o")
if(NOT EXISTS "${_compat}" OR "${CMAKE_CURRENT_LIST_DIR}/compat.c" IS_NEWER_THAN "${_compat}")
  execute_process(COMMAND "${CMAKE_C_COMPILER}" -O2 -fPIC -c "${CMAKE_CURRENT_LIST_DIR}/compat.c" -o "${_compat}"
                  RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "compiling ${CMAKE_CURRENT_LIST_DIR}/compat.c with zig failed (${_rc})")
  endif()
endif()

set(CMAKE_CXX_FLAGS_INIT
    "-nostdinc++ -I${CMAKE_CURRENT_LIST_DIR}/include -I${_libstdcxx_include} -I/usr/include/${_gxx_machine}/c++/${_gxx_version}")
set(CMAKE_CXX_STANDARD_LIBRARIES "-nostdlib++ ${_compat} ${_libstdcxx} ${_libgcc_s}")
set(_exports "-Wl,--version-script=${CMAKE_CURRENT_LIST_DIR}/exports.map")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "${_exports}")
set(CMAKE_MODULE_LINKER_FLAGS_INIT "${_exports}")
# Only CMake's own checks link programs: this libgcc_s.so.1 wants a newer glibc than the
# stub zig links against; at run time the machine's own libgcc_s.so.1 is loaded.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,--allow-shlib-undefined")
