# LlamaRec ranker cost on a ~110M Llama: LoRA training step (time, FLOP/s, peak RSS with and without gradient
# checkpointing) and ranking throughput, beside transformers + PEFT (bench/ranker_reference.py).
add_executable(bench_ranker ${CMAKE_CURRENT_LIST_DIR}/bench_ranker.cpp)
target_link_libraries(bench_ranker PRIVATE lrec_llm)
lrec_use_torch_pch(bench_ranker)
target_compile_definitions(bench_ranker PRIVATE LREC_PYTHON="${Python3_EXECUTABLE}" LREC_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
