# The kernel sources, for the host build (kernels/CMakeLists.txt) and for the
# firmware's own CMake project: include() this file, then compile
# ${QATLAB_KERNELS_SOURCES} with ${QATLAB_KERNELS_INCLUDE_DIR} on the include
# path. With -mcpu=cortex-m4 (which defines __ARM_FEATURE_DSP) the dense and
# conv2d (and depthwise conv2d) entry points bind to the DSP variants.
set(QATLAB_KERNELS_INCLUDE_DIR ${CMAKE_CURRENT_LIST_DIR}/include)
set(QATLAB_KERNELS_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/src/qmodel.c
  ${CMAKE_CURRENT_LIST_DIR}/src/kernel_variants.c
  ${CMAKE_CURRENT_LIST_DIR}/src/dense_s8.c
  ${CMAKE_CURRENT_LIST_DIR}/src/dense_s8_dsp.c
  ${CMAKE_CURRENT_LIST_DIR}/src/conv2d_s8.c
  ${CMAKE_CURRENT_LIST_DIR}/src/conv2d_s8_dsp.c
  ${CMAKE_CURRENT_LIST_DIR}/src/dot_s8_dsp.c
  ${CMAKE_CURRENT_LIST_DIR}/src/patch_dsp.c
  ${CMAKE_CURRENT_LIST_DIR}/src/depthwise_conv2d_s8.c
  ${CMAKE_CURRENT_LIST_DIR}/src/depthwise_conv2d_s8_dsp.c
  ${CMAKE_CURRENT_LIST_DIR}/src/pooling_s8.c
  ${CMAKE_CURRENT_LIST_DIR}/src/add_s8.c
  ${CMAKE_CURRENT_LIST_DIR}/src/input_conversion.c
)
