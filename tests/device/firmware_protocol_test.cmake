# firmware_protocol_test: the firmware's serial protocol against the real
# images in QEMU (qemu-system-arm). Included from tests/device/CMakeLists.txt.
add_executable(firmware_protocol_test ${CMAKE_CURRENT_LIST_DIR}/firmware_protocol_test.cc)
target_link_libraries(firmware_protocol_test PRIVATE
  qatlab_firmware_paths qatlab_kernels qatlab_process qatlab_test_support GTest::gtest_main)
target_compile_options(firmware_protocol_test PRIVATE ${QATLAB_WARNINGS})
# The test runs the images, so building it builds them first.
add_dependencies(firmware_protocol_test qatlab_firmware)
include(GoogleTest)
gtest_discover_tests(firmware_protocol_test DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 60 LABELS "device;qemu")
