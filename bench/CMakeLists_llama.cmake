# Llama inference speed (prefill, decode; fp32 and bf16) beside transformers, and the bf16 matmul rate.
add_executable(bench_llama ${CMAKE_CURRENT_LIST_DIR}/bench_llama.cpp)
target_link_libraries(bench_llama PRIVATE lrec_llm)
lrec_use_torch_pch(bench_llama)
target_compile_definitions(bench_llama PRIVATE LREC_PYTHON="${Python3_EXECUTABLE}" LREC_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
