# Cortex-M4 (soft-float ABI, Thumb-2, DSP extension) with Debian's
# gcc-arm-none-eabi and libnewlib-arm-none-eabi, for building the kernels
# library and programs that link it:
#   cmake -S kernels -B build-m4 --toolchain cmake/toolchains/arm-none-eabi-cortex-m4.cmake
#   cmake --build build-m4 && cmake --install build-m4 --prefix /opt/qatlab-m4
# and in the firmware's project, with the same toolchain file:
#   cmake -S app -B build-app --toolchain .../arm-none-eabi-cortex-m4.cmake -DCMAKE_PREFIX_PATH=/opt/qatlab-m4
#
# The CPU flags are the firmware's (device_agent/firmware/CMakeLists.txt):
# -mcpu=cortex-m4 defines __ARM_FEATURE_DSP, so the kernels bind their DSP
# variants. Everything linked together must use the same flags; for a
# Cortex-M4F with hardware floats, copy this file and use
# -mfloat-abi=hard -mfpu=fpv4-sp-d16 in both the library and the firmware.
# Programs link with newlib-nano; the board's startup code and linker script
# come from the firmware (see docs/export-c.md).
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR cortex-m4)

set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_CXX_COMPILER arm-none-eabi-g++)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_OBJCOPY arm-none-eabi-objcopy CACHE FILEPATH "objcopy for firmware images")
set(CMAKE_SIZE arm-none-eabi-size CACHE FILEPATH "size for firmware images")

# The CPU flags. kernels/CMakeLists.txt compiles the library with them and
# makes them usage requirements of qatlab::kernels (compile and link
# options), so everything linked with the kernels agrees on them even when a
# -DCMAKE_C_FLAGS on the command line replaces the defaults below.
set(QATLAB_TARGET_CPU_FLAGS -mcpu=cortex-m4 -mthumb -mfloat-abi=soft)
string(JOIN " " qatlab_cpu_flags ${QATLAB_TARGET_CPU_FLAGS})
set(CMAKE_C_FLAGS_INIT "${qatlab_cpu_flags} -ffunction-sections -fdata-sections")
set(CMAKE_CXX_FLAGS_INIT "${CMAKE_C_FLAGS_INIT}")
set(CMAKE_ASM_FLAGS_INIT "${qatlab_cpu_flags}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "--specs=nano.specs -Wl,--gc-sections")

# There is no OS to link a test executable against during compiler checks.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

# Programs run on the build machine; libraries, headers and packages come
# from the target's prefixes only (CMAKE_PREFIX_PATH or CMAKE_FIND_ROOT_PATH),
# never from the host's /usr.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
