# Dataset loading speed: raw load + preprocess of ML-1M (1M interactions) and a cached reload.
add_executable(bench_datasets ${CMAKE_CURRENT_LIST_DIR}/bench_datasets.cpp)
target_link_libraries(bench_datasets PRIVATE lrec_datasets)
target_compile_definitions(bench_datasets PRIVATE LREC_SHARED_DIR="${LREC_SHARED_DIR}")
