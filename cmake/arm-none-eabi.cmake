# Toolchain file for bare-metal Cortex-M with Debian's gcc-arm-none-eabi and
# libnewlib-arm-none-eabi. CPU flags (-mcpu, -mthumb, float ABI) are per
# target in device_agent/firmware/CMakeLists.txt, so one configured project
# can build several cores; the C library is newlib-nano (--specs=nano.specs).
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)

set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_OBJCOPY arm-none-eabi-objcopy CACHE FILEPATH "objcopy for firmware images")
set(CMAKE_SIZE arm-none-eabi-size CACHE FILEPATH "size for firmware images")

# There is no OS to link a test executable against during compiler checks.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
