# CMake toolchain file: cpet for ARM64 Linux, cross-built on an x86-64 Debian host (scripts/test-aarch64 uses it).
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
# Needs `bash scripts/setup --no-build --arm64`: Debian's cross compiler (crossbuild-essential-arm64), qemu-user and
# the arm64 libraries, most of them multiarch under /usr/lib/aarch64-linux-gnu, and GSL and Criterion (which
# cannot be installed for arm64 beside their amd64 packages) unpacked into build-aarch64-deps/.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

get_filename_component(_cpet_root "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
set(CPET_AARCH64_DEPS "${_cpet_root}/build-aarch64-deps" CACHE PATH
    "arm64 packages unpacked by scripts/setup --arm64 (GSL, Criterion)")
# the try_compile projects read this file too, in the same process (and so the same environment)
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES CPET_AARCH64_DEPS)

# Libraries and headers: the cross toolchain's own tree, the unpacked packages and / (the multiarch
# /usr/lib/aarch64-linux-gnu; the compiler's CMAKE_LIBRARY_ARCHITECTURE, aarch64-linux-gnu, keeps the host's
# x86_64-linux-gnu libraries out). Programs (git, pkg-config) are the host's.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu ${CPET_AARCH64_DEPS} /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config reads only arm64 .pc files (PKG_CONFIG_LIBDIR replaces its default x86-64 search path)
set(ENV{PKG_CONFIG_LIBDIR}
    "${CPET_AARCH64_DEPS}/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
unset(ENV{PKG_CONFIG_SYSROOT_DIR})

# try_run and ctest run arm64 programs under qemu-user. No -L: the ELF interpreter /lib/ld-linux-aarch64.so.1
# is multiarch libc6:arm64's, the same glibc build as the libc.so.6 the programs load from
# /lib/aarch64-linux-gnu (-L /usr/aarch64-linux-gnu would pair the cross package's ld.so with that libc).
# The unpacked libraries are found through the RUNPATH CMake writes for them, and Criterion's libnanomsg.so.5
# through LD_LIBRARY_PATH in the guest's environment.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -E "LD_LIBRARY_PATH=${CPET_AARCH64_DEPS}/usr/lib/aarch64-linux-gnu")
