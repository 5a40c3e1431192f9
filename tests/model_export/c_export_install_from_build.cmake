# `cmake --install BUILD_DIR --component qatlab_kernels --prefix PREFIX`, then
# checks that the package is complete: the library, the headers (the new
# input conversion among them) and the package's config and version files.
file(REMOVE_RECURSE "${PREFIX}")
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --component qatlab_kernels --prefix "${PREFIX}"
                RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "cmake --install ${BUILD_DIR} --component qatlab_kernels failed (${result})")
endif()
file(GLOB_RECURSE installed RELATIVE "${PREFIX}" "${PREFIX}/*")
foreach(expected IN ITEMS "/libqatlab_kernels\\.a$" "^include/qatlab_kernels/qmodel\\.h$"
                          "^include/qatlab_kernels/input_conversion\\.h$"
                          "/cmake/qatlab_kernels/qatlab_kernelsConfig\\.cmake$"
                          "/cmake/qatlab_kernels/qatlab_kernelsConfigVersion\\.cmake$"
                          "/cmake/qatlab_kernels/qatlab_kernels_targets\\.cmake$")
  set(found ${installed})
  list(FILTER found INCLUDE REGEX "${expected}")
  if(NOT found)
    message(FATAL_ERROR "the install of ${BUILD_DIR} lacks a file matching ${expected}; it has: ${installed}")
  endif()
endforeach()
message(STATUS "the kernels package is complete in ${PREFIX}")
