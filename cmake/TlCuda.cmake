# The CUDA backend: nvcc, the CUDA runtime, cuBLAS and cuDNN.
# cuDNN is looked for in the CUDA toolkit, in /usr, and in the pip wheel
# nvidia-cudnn-cu13 (site-packages/nvidia/cudnn), which is where the GPU
# machine has it; cuBLAS in the toolkit, else in the nvidia-cublas wheel.
set(TL_WITH_CUDA OFF)
if(TL_CUDA STREQUAL "OFF")
  message(STATUS "tl: CUDA backend disabled (TL_CUDA=OFF)")
  return()
endif()

include(CheckLanguage)
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES ${TL_CUDA_ARCHS})
endif()
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  if(TL_CUDA STREQUAL "ON")
    message(FATAL_ERROR "tl: TL_CUDA=ON but no nvcc was found. Put nvcc on PATH or set CMAKE_CUDA_COMPILER.")
  endif()
  message(STATUS "tl: no nvcc found: CPU-only build")
  return()
endif()
enable_language(CUDA)
# CMake 3.25 does not know nvcc 13's C++20 flag; teach it, so that the .cu
# files compile as C++20 like the headers they share with the engine.
set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
set(CMAKE_CUDA_STANDARD 20)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
string(APPEND CMAKE_CUDA_FLAGS " --expt-relaxed-constexpr")
find_package(CUDAToolkit REQUIRED)

# Python's site-packages, for the cuDNN / cuBLAS pip wheels.
set(_tl_wheel_roots "")
find_program(_tl_python NAMES python3 python)
if(_tl_python)
  execute_process(COMMAND ${_tl_python} -c "import site,sys; print(';'.join(site.getsitepackages()+[site.getusersitepackages()]))"
                  OUTPUT_VARIABLE _tl_site OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  foreach(_d ${_tl_site})
    list(APPEND _tl_wheel_roots ${_d}/nvidia/cudnn ${_d}/nvidia/cu13 ${_d}/nvidia/cublas)
  endforeach()
endif()

find_path(TL_CUDNN_INCLUDE_DIR cudnn.h
  HINTS ${CUDNN_ROOT} $ENV{CUDNN_ROOT} ${CUDAToolkit_INCLUDE_DIRS} ${_tl_wheel_roots}
  PATH_SUFFIXES include)
find_library(TL_CUDNN_LIBRARY NAMES cudnn libcudnn.so.9
  HINTS ${CUDNN_ROOT} $ENV{CUDNN_ROOT} ${CUDAToolkit_LIBRARY_DIR} ${CUDAToolkit_LIBRARY_DIR}/../lib ${_tl_wheel_roots}
  PATH_SUFFIXES lib lib64)
if(NOT TL_CUDNN_INCLUDE_DIR OR NOT TL_CUDNN_LIBRARY)
  if(TL_CUDA STREQUAL "ON")
    message(FATAL_ERROR "tl: TL_CUDA=ON but cuDNN was not found. Set CUDNN_ROOT to its install prefix.")
  endif()
  message(STATUS "tl: nvcc found but no cuDNN: CPU-only build (set CUDNN_ROOT to enable CUDA)")
  return()
endif()

# cuBLAS: the toolkit's, or else the pip wheel's (nvidia-cublas ships
# libcublas.so.13 and libcublasLt.so.13 without the unversioned names).
set(_tl_cublas CUDA::cublas)
set(_tl_cublas_where "the CUDA toolkit")
if(NOT TARGET CUDA::cublas)
  find_path(TL_CUBLAS_INCLUDE_DIR cublas_v2.h HINTS ${_tl_wheel_roots} PATH_SUFFIXES include)
  find_library(TL_CUBLAS_LIBRARY NAMES cublas libcublas.so.13 HINTS ${_tl_wheel_roots} PATH_SUFFIXES lib)
  find_library(TL_CUBLASLT_LIBRARY NAMES cublasLt libcublasLt.so.13 HINTS ${_tl_wheel_roots} PATH_SUFFIXES lib)
  if(NOT TL_CUBLAS_INCLUDE_DIR OR NOT TL_CUBLAS_LIBRARY OR NOT TL_CUBLASLT_LIBRARY)
    if(TL_CUDA STREQUAL "ON")
      message(FATAL_ERROR "tl: TL_CUDA=ON but cuBLAS was found neither in the CUDA toolkit nor in "
                          "the nvidia-cublas pip wheel.")
    endif()
    message(STATUS "tl: nvcc and cuDNN found but no cuBLAS: CPU-only build")
    return()
  endif()
  set(_tl_cublas ${TL_CUBLAS_LIBRARY} ${TL_CUBLASLT_LIBRARY})
  set(_tl_cublas_where "${TL_CUBLAS_LIBRARY}")
endif()

set(TL_WITH_CUDA ON)
add_library(tl_cuda_deps INTERFACE)
target_include_directories(tl_cuda_deps INTERFACE ${TL_CUDNN_INCLUDE_DIR} ${TL_CUBLAS_INCLUDE_DIR})
target_link_libraries(tl_cuda_deps INTERFACE CUDA::cudart ${_tl_cublas} ${TL_CUDNN_LIBRARY})
message(STATUS "tl: CUDA backend ON for sm_${TL_CUDA_ARCHS}; cuDNN ${TL_CUDNN_LIBRARY}; "
               "cuBLAS from ${_tl_cublas_where}")
