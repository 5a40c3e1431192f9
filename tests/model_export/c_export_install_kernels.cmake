# The C export tests' fixture: kernels/ configured, built and installed as its
# own project, the way docs/export-c.md tells a user to, into PREFIX.
#   cmake -DSOURCE_DIR=<repo>/kernels -DBINARY_DIR=... -DPREFIX=...
#         [-DTOOLCHAIN=<toolchain file>] [-DC_COMPILER=<host cc>] -P c_export_install_kernels.cmake
# A fresh build, not the enclosing one: a sanitizer build's objects would
# need the sanitizer runtime in every program that links them.
foreach(variable SOURCE_DIR BINARY_DIR PREFIX)
  if(NOT DEFINED ${variable})
    message(FATAL_ERROR "c_export_install_kernels.cmake: ${variable} is not set")
  endif()
endforeach()
foreach(flags CFLAGS CXXFLAGS LDFLAGS)
  unset(ENV{${flags}})
endforeach()
file(REMOVE_RECURSE "${BINARY_DIR}" "${PREFIX}")

set(configure "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${BINARY_DIR}" -DCMAKE_BUILD_TYPE=Release
              "-DCMAKE_C_FLAGS=-Werror")
if(TOOLCHAIN)
  list(APPEND configure --toolchain "${TOOLCHAIN}")
elseif(C_COMPILER)
  list(APPEND configure "-DCMAKE_C_COMPILER=${C_COMPILER}")
endif()
foreach(step IN ITEMS configure build install)
  if(step STREQUAL "build")
    set(command "${CMAKE_COMMAND}" --build "${BINARY_DIR}" -j2)
  elseif(step STREQUAL "install")
    set(command "${CMAKE_COMMAND}" --install "${BINARY_DIR}" --prefix "${PREFIX}")
  else()
    set(command ${configure})
  endif()
  execute_process(COMMAND ${command} RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "kernels ${step} failed (${result}): ${command}")
  endif()
endforeach()
file(GLOB_RECURSE config "${PREFIX}/*/qatlab_kernelsConfig.cmake")
if(NOT config)
  message(FATAL_ERROR "no qatlab_kernelsConfig.cmake under ${PREFIX}")
endif()
message(STATUS "qatlab kernels installed in ${PREFIX}")
