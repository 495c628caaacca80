# The CUDA scan kernels' GPU check and timing; it needs no LibTorch, so scripts/device_check.sh can also
# build it alone with nvcc on a GPU machine.
if(LREC_WITH_CUDA)
  find_package(CUDAToolkit REQUIRED)
  add_executable(bench_lru_scan_cuda ${CMAKE_CURRENT_LIST_DIR}/bench_lru_scan_cuda.cu
                                     ${CMAKE_SOURCE_DIR}/lrurec/cuda/lru_scan.cu)
  target_include_directories(bench_lru_scan_cuda PRIVATE ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/generated)
  target_link_libraries(bench_lru_scan_cuda PRIVATE CUDA::cudart)
endif()
