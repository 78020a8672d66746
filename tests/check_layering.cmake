# The layering check: every #include "dir/file" in the library must point to
# its own layer or one below it (CMakeLists.txt lists the layers). Run by ctest
# as LayeringCheck:
#   cmake -DTL_SOURCE_DIR=<repository root> -P tests/check_layering.cmake
# Prints each upward include as "file:line: <layer> may not include <target>"
# and fails when there is one. (LayeringCheckCatchesAnUpwardInclude runs it on
# tests/data/layering_violation, which has one, and expects it to fail.)
cmake_minimum_required(VERSION 3.25)
if(NOT TL_SOURCE_DIR)
  message(FATAL_ERROR "usage: cmake -DTL_SOURCE_DIR=<repository root> -P check_layering.cmake")
endif()

# What each layer may include, itself included. data/ and layers/ are
# siblings: neither may include the other.
set(allowed_runtime runtime)
set(allowed_kernels runtime kernels)
set(allowed_engine  runtime kernels engine)
set(allowed_layers  runtime kernels engine layers)
set(allowed_data    runtime kernels engine data)
set(allowed_weights runtime kernels engine layers weights)
set(layers runtime kernels engine layers data weights)

# Inside a layer, files that must not include others (a cycle the layer
# boundary cannot see): autograd sits below the differentiable ops.
set(forbidden_pairs "engine/autograd:engine/ops")

set(violations 0)
set(files_checked 0)
foreach(layer IN LISTS layers)
  file(GLOB_RECURSE sources "${TL_SOURCE_DIR}/${layer}/*.h" "${TL_SOURCE_DIR}/${layer}/*.cpp"
       "${TL_SOURCE_DIR}/${layer}/*.cu" "${TL_SOURCE_DIR}/${layer}/*.cuh")
  foreach(path IN LISTS sources)
    math(EXPR files_checked "${files_checked} + 1")
    file(RELATIVE_PATH rel "${TL_SOURCE_DIR}" "${path}")
    file(STRINGS "${path}" lines)
    set(line_no 0)
    foreach(line IN LISTS lines)
      math(EXPR line_no "${line_no} + 1")
      if(line MATCHES "^[ \t]*#[ \t]*include[ \t]+\"([a-z_]+)/([^\"]+)\"")
        set(target_dir "${CMAKE_MATCH_1}")
        set(target "${CMAKE_MATCH_1}/${CMAKE_MATCH_2}")
        string(REPLACE ";" ", " allowed_list "${allowed_${layer}}")
        if(NOT target_dir IN_LIST allowed_${layer})
          message("${rel}:${line_no}: ${layer}/ may not include ${target} "
                  "(it may include: ${allowed_list})")
          math(EXPR violations "${violations} + 1")
        endif()
        foreach(pair IN LISTS forbidden_pairs)
          string(REPLACE ":" ";" pair "${pair}")
          list(GET pair 0 from)
          list(GET pair 1 to)
          if(rel MATCHES "^${from}" AND target MATCHES "^${to}")
            message("${rel}:${line_no}: ${from}* may not include ${to}* (a cycle)")
            math(EXPR violations "${violations} + 1")
          endif()
        endforeach()
      endif()
    endforeach()
  endforeach()
endforeach()

if(files_checked EQUAL 0)
  message(FATAL_ERROR "layering check: no source files under ${TL_SOURCE_DIR}: nothing was checked")
endif()
if(violations GREATER 0)
  message(FATAL_ERROR "layering check: ${violations} include(s) point up a layer (see above)")
endif()
message("layering check: ${files_checked} files, every include points down")
