# fp32 products: the AVX-512 kernel (core/gemm_f32_cpu) against at::mm (MKL) on the models' shapes.
add_executable(bench_gemm ${CMAKE_CURRENT_LIST_DIR}/bench_gemm.cpp)
target_link_libraries(bench_gemm PRIVATE lrec_core)
lrec_use_torch_pch(bench_gemm)
