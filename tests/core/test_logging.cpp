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
  MetricsLog resumed(dir.path(), "val", /*append=*/true);
  resumed.write({{"step", 500}, {"Recall@10", 0.5}});
  EXPECT_EQ(read_file(dir / "val.csv"), "Recall@10,step\n0.25,0\n0.5,500\n");
}

TEST(Runtime, ThreadsDefaultToAllCores) {
  EXPECT_EQ(configure_runtime(1), 1);
  EXPECT_EQ(configure_runtime(0), static_cast<int>(std::thread::hardware_concurrency()));
}

TEST(Progress, DurationFormat) {
  EXPECT_EQ(format_duration(65), "1:05");
  EXPECT_EQ(format_duration(3725), "1:02:05");
}

}  // namespace
}  // namespace lrec
