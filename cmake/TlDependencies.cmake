# Optional dependencies of the CPU build. Each one that is missing is reported
# at configure time with what it costs and how to install it; none is required,
# so the GPU machine (which has no Debian -dev packages) can still build.
add_library(tl_deps INTERFACE)

# --- BLAS (CBLAS interface). Without it, kernels/gemm.cpp uses its own blocked GEMM.
# CMAKE_DISABLE_FIND_PACKAGE_BLAS=ON hides it, as the standard switch does
# for the packages below (bench/gpu_check.sh --rehearse uses all of them to
# pretend to be the GPU machine, which has none of these -dev packages).
set(TL_HAVE_BLAS OFF)
if(NOT CMAKE_DISABLE_FIND_PACKAGE_BLAS)
  find_path(TL_CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES openblas x86_64-linux-gnu)
  find_library(TL_BLAS_LIBRARY NAMES openblas blas)
endif()
if(TL_CBLAS_INCLUDE_DIR AND TL_BLAS_LIBRARY AND NOT CMAKE_DISABLE_FIND_PACKAGE_BLAS)
  set(TL_HAVE_BLAS ON)
  target_include_directories(tl_deps INTERFACE ${TL_CBLAS_INCLUDE_DIR})
  target_link_libraries(tl_deps INTERFACE ${TL_BLAS_LIBRARY})
  target_compile_definitions(tl_deps INTERFACE TL_HAVE_BLAS=1)
else()
  message(STATUS "tl: no CBLAS found: the CPU GEMM falls back to a plain blocked loop "
                 "(slow). Install: apt-get install libopenblas-dev")
endif()

# --- oneDNN: the fast CPU convolutions (kernels/conv2d_onednn.h). Without it
# conv2d.cpp runs its own im2col + GEMM path, 1.3-1.6x slower at 224x224
# (bench/RESULTS.md). CMAKE_DISABLE_FIND_PACKAGE_DNNL=ON hides it.
set(TL_HAVE_ONEDNN OFF)
if(NOT CMAKE_DISABLE_FIND_PACKAGE_DNNL)
  find_path(TL_ONEDNN_INCLUDE_DIR oneapi/dnnl/dnnl.hpp)
  find_library(TL_ONEDNN_LIBRARY NAMES dnnl)
endif()
if(TL_ONEDNN_INCLUDE_DIR AND TL_ONEDNN_LIBRARY AND NOT CMAKE_DISABLE_FIND_PACKAGE_DNNL)
  set(TL_HAVE_ONEDNN ON)
  target_include_directories(tl_deps INTERFACE ${TL_ONEDNN_INCLUDE_DIR})
  target_link_libraries(tl_deps INTERFACE ${TL_ONEDNN_LIBRARY})
else()
  message(STATUS "tl: no oneDNN found: CPU convolutions use im2col + GEMM (slower). "
                 "Install: apt-get install libdnnl-dev")
endif()

# --- Threads: tl's CPU thread pool (runtime/thread_pool.h) is std::thread.
find_package(Threads REQUIRED)
target_link_libraries(tl_deps INTERFACE Threads::Threads)

# --- OpenMP: not for threads (tl's own pool runs every CPU loop), only for
# `#pragma omp simd` (vectorising a loop the compiler cannot prove safe) and
# for telling oneDNN, which Debian builds on OpenMP, to use one thread per
# call (kernels/onednn/conv2d.cpp). Without it those loops may stay scalar.
set(TL_HAVE_OPENMP OFF)
find_package(OpenMP QUIET)
if(OpenMP_CXX_FOUND)
  set(TL_HAVE_OPENMP ON)
  target_link_libraries(tl_deps INTERFACE OpenMP::OpenMP_CXX)
else()
  message(STATUS "tl: no OpenMP: some CPU loops may not be vectorised")
endif()

# --- HDF5 (C API): Keras weights, checkpoints, export.
set(TL_HAVE_HDF5 OFF)
find_package(HDF5 QUIET COMPONENTS C)
if(HDF5_FOUND)
  set(TL_HAVE_HDF5 ON)
  target_include_directories(tl_deps INTERFACE ${HDF5_INCLUDE_DIRS})
  target_link_libraries(tl_deps INTERFACE ${HDF5_C_LIBRARIES})
  target_compile_definitions(tl_deps INTERFACE TL_HAVE_HDF5=1)
else()
  message(STATUS "tl: no HDF5: cannot read Keras weights or write checkpoints. "
                 "Install: apt-get install libhdf5-dev")
endif()

# --- Image codecs for the image-folder reader and apps/predict.
set(TL_HAVE_JPEG OFF)
find_package(JPEG QUIET)
if(JPEG_FOUND)
  set(TL_HAVE_JPEG ON)
  target_link_libraries(tl_deps INTERFACE JPEG::JPEG)
  target_compile_definitions(tl_deps INTERFACE TL_HAVE_JPEG=1)
else()
  message(STATUS "tl: no libjpeg: JPEG images cannot be read. Install: apt-get install libjpeg-dev")
endif()
set(TL_HAVE_PNG OFF)
find_package(PNG QUIET)
if(PNG_FOUND)
  set(TL_HAVE_PNG ON)
  target_link_libraries(tl_deps INTERFACE PNG::PNG)
  target_compile_definitions(tl_deps INTERFACE TL_HAVE_PNG=1)
else()
  message(STATUS "tl: no libpng: PNG images cannot be read. Install: apt-get install libpng-dev")
endif()
