// main() of every benchmark binary: BENCHMARK_MAIN, plus the exit status a
// script can trust. Benchmark 1.7.1 exits 0 even when benchmarks were skipped
// with an error or none matched, which would let a broken benchmark pass a
// smoke run while measuring nothing.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <exception>
#include <string>

#include "bench_support.hpp"

int main(int argc, char **argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    try {
        cuframes_bench::make_scratch_dir();
    } catch (const std::exception &error) {
        std::fprintf(stderr, "%s: %s\n", argv[0], cuframes_bench::describe(error).c_str());
        return 1;
    }
    size_t ran = benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    cuframes_bench::remove_scratch_dir();

    if (int failed = cuframes_bench::failure_count(); failed > 0) {
        std::fprintf(stderr, "%s: %d benchmark run(s) failed (see \"benchmark failed:\" above)\n", argv[0], failed);
        return 1;
    }
    std::string filter = benchmark::GetBenchmarkFilter();
    bool everything = filter.empty() || filter == "." || filter == "all";
    if (ran == 0 && everything) {
        // Nothing registered: a build problem, not a choice.
        std::fprintf(stderr, "%s: no benchmark is registered in this binary\n", argv[0]);
        return 1;
    }
    return 0;
}
