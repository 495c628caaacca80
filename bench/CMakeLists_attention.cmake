# Causal bf16 attention: the AVX512-BF16 kernel against LibTorch's SDPA, forward and forward + backward.
add_executable(bench_attention ${CMAKE_CURRENT_LIST_DIR}/bench_attention.cpp)
target_link_libraries(bench_attention PRIVATE lrec_llm)
lrec_use_torch_pch(bench_attention)
