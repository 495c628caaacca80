#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "core/metrics_log.h"
#include "core/progress.h"
#include "core/runtime.h"
#include "tests/common/test_util.h"

namespace lrec {
namespace {

using testing::TempDir;

TEST(MetricsLog, WritesJsonlAndCsvFlushedEachRecord) {
  TempDir dir;
  {
    MetricsLog log(dir.path(), "val");
    log.write({{"step", 0}, {"Recall@10", 0.25}});
    // Flushed: readable before the log is closed.
    EXPECT_EQ(read_file(dir / "val.csv"), "Recall@10,step\n0.25,0\n");
    EXPECT_EQ(read_file(dir / "val.jsonl"), "{\"Recall@10\":0.25,\"step\":0.0}\n");
    EXPECT_THROW(log.write({{"step", 1}}), std::runtime_error);
  }
  MetricsLog resumed(dir.path(), "val", /*resume_step=*/0.0);
  resumed.write({{"step", 500}, {"Recall@10", 0.5}});
  EXPECT_EQ(read_file(dir / "val.csv"), "Recall@10,step\n0.25,0\n0.5,500\n");
}

// A crash after the checkpoint of step 500 left the record of step 1000; the run resumed from step 500
// logs step 1000 again, and the logs hold it once.
TEST(MetricsLog, ResumingDropsWhatWasLoggedAfterTheCheckpoint) {
  TempDir dir;
  {
    MetricsLog log(dir.path(), "val");
    for (const double step : {0.0, 500.0, 1000.0}) log.write({{"step", step}, {"Recall@10", step / 1e4}});
  }
  MetricsLog resumed(dir.path(), "val", /*resume_step=*/500.0);
  resumed.write({{"step", 1000}, {"Recall@10", 0.2}});
  EXPECT_EQ(read_file(dir / "val.csv"), "Recall@10,step\n0,0\n0.05,500\n0.2,1000\n");
  EXPECT_EQ(read_file(dir / "val.jsonl"),
            "{\"Recall@10\":0.0,\"step\":0.0}\n{\"Recall@10\":0.05,\"step\":500.0}\n"
            "{\"Recall@10\":0.2,\"step\":1000.0}\n");
}

TEST(Runtime, ThreadsDefaultToAllCores) {
  EXPECT_EQ(configure_runtime(1), 1);
  EXPECT_EQ(configure_runtime(0), static_cast<int>(std::thread::hardware_concurrency()));
}

// The warning follows the CPU's bf16 products: native and fast (AMX; AMD's AVX512-BF16), native at half the
// fp32 rate (Intel's AVX512-BF16 without AMX), or emulated.
TEST(Runtime, PrecisionWarningNamesCpusWhereBf16IsNoFaster) {
  CpuFeatures zen4;
  zen4.vendor = "AuthenticAMD";
  zen4.avx2 = zen4.avx512f = zen4.avx512_bf16 = true;
  EXPECT_EQ(precision_warning(zen4), "");

  CpuFeatures intel = zen4;
  intel.vendor = "GenuineIntel";
  EXPECT_NE(precision_warning(intel).find("AVX512-BF16 but no AMX"), std::string::npos);
  EXPECT_NE(precision_warning(intel).find("model.matmul_precision=float32"), std::string::npos);
  intel.amx_bf16 = true;
  EXPECT_EQ(precision_warning(intel), "");

  CpuFeatures skylake = intel;
  skylake.avx512_bf16 = skylake.amx_bf16 = false;
  EXPECT_NE(precision_warning(skylake).find("neither AVX512-BF16 nor AMX"), std::string::npos);
  EXPECT_EQ(precision_warning(skylake).find("without AVX2"), std::string::npos);

  CpuFeatures old;
  old.vendor = "AuthenticAMD";
  EXPECT_NE(precision_warning(old).find("without AVX2, fp32 products will be slow as well"),
            std::string::npos);
}

TEST(Progress, DurationFormat) {
  EXPECT_EQ(format_duration(65), "1:05");
  EXPECT_EQ(format_duration(3725), "1:02:05");
}

}  // namespace
}  // namespace lrec
