add_executable(bench_lrurec ${CMAKE_CURRENT_LIST_DIR}/bench_lrurec.cpp)
target_link_libraries(bench_lrurec PRIVATE lrec_lrurec)
target_compile_definitions(bench_lrurec PRIVATE LREC_PYTHON="${Python3_EXECUTABLE}" LREC_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
