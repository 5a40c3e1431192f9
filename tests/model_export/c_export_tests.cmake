# The C export (model_export/c_export.h) and the kernels as an installed
# package (kernels/CMakeLists.txt). Included from this folder's
# CMakeLists.txt; its tests are named c_export_* and CExport*.
#
# Fixtures: kernels/ built as its own project and installed, for the host and
# for the Cortex-M4 (cmake/toolchains/arm-none-eabi-cortex-m4.cmake), into
# prefixes under this build folder. The gtest binary builds each preset's
# exported example against them with find_package(qatlab_kernels) and runs
# it on the host and in QEMU. Needs arm-none-eabi-gcc and qemu-system-arm
# (as the firmware and device tests do); skipped without them.
find_program(QATLAB_ARM_NONE_EABI_GCC arm-none-eabi-gcc)
find_program(QATLAB_ARM_NONE_EABI_NM arm-none-eabi-nm)
find_program(QATLAB_ARM_NONE_EABI_SIZE arm-none-eabi-size)
find_program(QATLAB_QEMU_SYSTEM_ARM qemu-system-arm)
if(QATLAB_ARM_NONE_EABI_GCC AND QATLAB_ARM_NONE_EABI_NM AND QATLAB_ARM_NONE_EABI_SIZE AND QATLAB_QEMU_SYSTEM_ARM)
  set(c_export_work ${CMAKE_CURRENT_BINARY_DIR}/c_export)
  set(c_export_toolchain ${PROJECT_SOURCE_DIR}/cmake/toolchains/arm-none-eabi-cortex-m4.cmake)
  add_test(NAME c_export_install_kernels_host
           COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${PROJECT_SOURCE_DIR}/kernels
                   -DBINARY_DIR=${c_export_work}/kernels-host -DPREFIX=${c_export_work}/prefix-host
                   -DC_COMPILER=${CMAKE_C_COMPILER}
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/c_export_install_kernels.cmake)
  set_tests_properties(c_export_install_kernels_host PROPERTIES FIXTURES_SETUP c_export_kernels TIMEOUT 300)
  add_test(NAME c_export_install_kernels_cortex_m4
           COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${PROJECT_SOURCE_DIR}/kernels
                   -DBINARY_DIR=${c_export_work}/kernels-m4 -DPREFIX=${c_export_work}/prefix-m4
                   -DTOOLCHAIN=${c_export_toolchain}
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/c_export_install_kernels.cmake)
  set_tests_properties(c_export_install_kernels_cortex_m4 PROPERTIES FIXTURES_SETUP c_export_kernels TIMEOUT 300)

  # `cmake --install` of this very build, the kernels component alone: the
  # library, its headers and the package files land in the prefix.
  add_test(NAME c_export_install_kernels_from_build
           COMMAND ${CMAKE_COMMAND} -DBUILD_DIR=${CMAKE_BINARY_DIR} -DPREFIX=${c_export_work}/prefix-from-build
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/c_export_install_from_build.cmake)
  set_tests_properties(c_export_install_kernels_from_build PROPERTIES TIMEOUT 120)

  include(GoogleTest)
  add_executable(c_export_tests c_export_test.cc ${PROJECT_SOURCE_DIR}/tests/device/seeded_models.cc)
  target_link_libraries(c_export_tests PRIVATE qatlab_model_export qatlab_engine qatlab_kernels qatlab_test_support
                                               qatlab_test_mnist
                                               GTest::gtest_main)
  target_compile_options(c_export_tests PRIVATE ${QATLAB_WARNINGS})
  target_compile_definitions(c_export_tests PRIVATE
    QATLAB_CMAKE_COMMAND="${CMAKE_COMMAND}"
    QATLAB_HOST_C_COMPILER="${CMAKE_C_COMPILER}"
    QATLAB_CORTEX_M4_TOOLCHAIN="${c_export_toolchain}"
    QATLAB_C_EXPORT_HOST_PREFIX="${c_export_work}/prefix-host"
    QATLAB_C_EXPORT_M4_PREFIX="${c_export_work}/prefix-m4"
    QATLAB_C_EXPORT_M4_STARTUP="${CMAKE_CURRENT_SOURCE_DIR}/c_export_cortex_m4/startup_semihosting.c"
    QATLAB_FIRMWARE_LINKER_DIR="${PROJECT_SOURCE_DIR}/device_agent/firmware/linker"
    QATLAB_QEMU_SYSTEM_ARM="${QATLAB_QEMU_SYSTEM_ARM}"
    QATLAB_ARM_NONE_EABI_NM="${QATLAB_ARM_NONE_EABI_NM}"
    QATLAB_ARM_NONE_EABI_SIZE="${QATLAB_ARM_NONE_EABI_SIZE}")
  gtest_discover_tests(c_export_tests DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 900
                       FIXTURES_REQUIRED c_export_kernels)
endif()
