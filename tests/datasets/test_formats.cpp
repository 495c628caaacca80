// Every raw format from tiny fixture files: detection, parsing, titles, and the errors for bad input.
#include <gtest/gtest.h>

#include "datasets/dataset.h"
#include "test_util.h"

namespace lrec::data {
namespace {

using testing::error_of;
using testing::raw_sequence;
using testing::TempDir;
using testing::write_gz;
using testing::write_text;
using Seq = std::vector<std::string>;

DatasetConfig config_for(const std::filesystem::path& dir, std::string format = "auto") {
  DatasetConfig cfg;
  cfg.path = dir.string();
  cfg.format = std::move(format);
  cfg.cache_dir = "";
  cfg.min_uc = 2;
  cfg.min_sc = 1;
  return cfg;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Two users rating three movies; user 2's lines are out of time order, with a tie at time 300.
void write_ml100k(const std::filesystem::path& dir) {
  write_text(dir / "u.data",
             "1\t10\t5\t100\n1\t20\t3\t200\n1\t30\t4\t300\n2\t30\t4\t300\n2\t10\t1\t50\n2\t20\t2\t300\n");
  write_text(dir / "u.item",
             "10|Caf\xe9 Society (1995)|01-Jan-1995||http://x|0|1\n20|Heat (1995)|01-Jan-1995||http://x|1|0\n"
             "30|Casino (1995)|01-Jan-1995||http://x|0|0\n");
}

TEST(Formats, MovieLens100k) {
  TempDir dir;
  write_ml100k(dir.path());
  for (const char* format : {"auto", "ml-100k"}) {
    const Dataset ds = load_dataset(config_for(dir.path(), format));
    ASSERT_EQ(ds.num_users(), 2u);
    EXPECT_EQ(ds.user_raw_ids, (Seq{"1", "2"}));
    EXPECT_EQ(raw_sequence(ds, 0), (Seq{"10", "20", "30"}));
    EXPECT_EQ(raw_sequence(ds, 1), (Seq{"10", "20", "30"}));  // the tie at 300 goes by item id
    EXPECT_EQ(ds.titles,
              (Seq{"", "Caf\xc3\xa9 Society (1995)", "Heat (1995)", "Casino (1995)"}));  // latin-1 -> UTF-8
  }
}

TEST(Formats, MovieLensDat) {
  TempDir dir;
  write_text(dir / "ratings.dat",
             "5::2::5::978300760\n5::1::3::978302109\n6::1::4::978301968\n6::3::5::978300275\n");
  write_text(
      dir / "movies.dat",
      "1::Heat, The (1995)::Action|Crime\n2::Mis\xe9rables, Les (1995)::Drama\n3::Ran (1985)::Drama|War\n");
  for (const char* format : {"auto", "ml-1m", "ml-10m"}) {
    const Dataset ds = load_dataset(config_for(dir.path(), format));
    EXPECT_EQ(raw_sequence(ds, 0), (Seq{"2", "1"}));
    EXPECT_EQ(raw_sequence(ds, 1), (Seq{"3", "1"}));
    EXPECT_EQ(ds.titles, (Seq{"", "The Heat (1995)", "Mis\xc3\xa9rables, Les (1995)", "Ran (1985)"}));
  }
  DatasetConfig raw_titles = config_for(dir.path());
  raw_titles.clean_titles = false;
  EXPECT_EQ(load_dataset(raw_titles).titles[1], "Heat, The (1995)");
}

void write_ml_csv(const std::filesystem::path& dir) {
  write_text(dir / "ratings.csv",
             "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.0,964981247\n2,1,2.5,964982224\n"
             "2,29,3.5,964983815\n");
  write_text(dir / "movies.csv",
             "movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n"
             "3,\"Say \"\"Anything\"\", A (1989)\",Comedy\n"
             "29,\"City of Lost Children, The (Cité des enfants perdus, La) (1995)\",Adventure\n");
}

TEST(Formats, MovieLensCsvWithQuotedTitles) {
  TempDir dir;
  write_ml_csv(dir.path());
  for (const char* format : {"auto", "ml-latest-small", "ml-25m"}) {
    const Dataset ds = load_dataset(config_for(dir.path(), format));
    EXPECT_EQ(raw_sequence(ds, 0), (Seq{"3", "1"}));
    EXPECT_EQ(raw_sequence(ds, 1), (Seq{"1", "29"}));
    EXPECT_EQ(ds.titles,
              (Seq{"", "Toy Story (1995)", "A Say \"Anything\" (1989)", "The City of Lost Children (1995)"}));
  }
}

TEST(Formats, Amazon2014WithPythonLiteralMetadata) {
  TempDir dir;
  write_text(
      dir / "ratings_Beauty.csv",
      "A2,B00,5.0,1300000000\nA1,0205616461,5.0,1369699200\nA1,B01,3.0,1355443200\nA2,B01,4.0,1200000000\n"
      "A1,B02,1.0,1400000000\n");
  write_gz(
      dir / "meta_Beauty.json.gz",
      "{'asin': '0205616461', 'title': 'Bath \\'n\\' Shower Gel', 'price': 1.5, 'related': {'also_bought': "
      "['B01']}}\n{'asin': 'B01', 'title': \"Rose\\xe9 Lotion \", 'categories': [['Beauty']]}\n"
      "{'asin': 'B00', 'title': 'Eye Cream'}\n{'asin': 'B02', 'salesRank': {'Beauty': 5}}\n");
  const Dataset ds = load_dataset(config_for(dir.path()));
  EXPECT_EQ(ds.user_raw_ids, (Seq{"A1", "A2"}));
  EXPECT_EQ(raw_sequence(ds, 0), (Seq{"B01", "0205616461"}));  // B02 has no title: dropped
  EXPECT_EQ(raw_sequence(ds, 1), (Seq{"B01", "B00"}));
  EXPECT_EQ(ds.item_raw_ids, (Seq{"", "0205616461", "B00", "B01"}));  // mixed ids: lexicographic
  EXPECT_EQ(ds.titles,
            (Seq{"", "Bath 'n' Shower Gel", "Eye Cream", "Rose\xc3\xa9 Lotion"}));  // not cleaned, trimmed
}

TEST(Formats, Amazon2014RatingsWith2018JsonMetadataAsLlamaRecGames) {
  TempDir dir;
  write_text(dir / "ratings_Video_Games.csv", "U1,G1,5.0,10\nU1,G2,4.0,20\n");
  write_gz(dir / "meta_Video_Games.json.gz",
           "{\"asin\": \"G1\", \"title\": \"Zelda\", \"rank\": [\"1 in Games\"], \"fit\": true}\n"
           "{\"asin\": \"G2\", \"title\": \"Mario \\u00e9\", \"details\": null}\n");
  const Dataset ds = load_dataset(config_for(dir.path(), "amazon2014"));
  EXPECT_EQ(ds.titles, (Seq{"", "Zelda", "Mario \xc3\xa9"}));
}

TEST(Formats, Amazon2018) {
  TempDir dir;
  write_text(dir / "Beauty.csv", "I1,U1,5.0,300\nI2,U1,4.0,100\nI2,U2,4.0,100\nI3,U2,2.0,200\n");
  write_gz(dir / "meta_Beauty.json.gz",
           "{\"asin\": \"I1\", \"title\": \"Soap\"}\n{\"asin\": \"I2\", \"title\": \"Brush\"}\n"
           "{\"asin\": \"I3\", \"title\": \"Comb\", \"also_buy\": [\"I1\"]}\n");
  for (const char* format : {"auto", "amazon2018"}) {
    const Dataset ds = load_dataset(config_for(dir.path(), format));
    EXPECT_EQ(ds.user_raw_ids, (Seq{"U1", "U2"}));
    EXPECT_EQ(raw_sequence(ds, 0), (Seq{"I2", "I1"}));
    EXPECT_EQ(raw_sequence(ds, 1), (Seq{"I2", "I3"}));
    EXPECT_EQ(ds.titles, (Seq{"", "Soap", "Brush", "Comb"}));
  }
}

TEST(Formats, AtomicFilesWithExtraColumnsAndMovieTitle) {
  TempDir dir;
  write_text(dir / "mine.inter",
             "user_id:token\titem_id:token\trating:float\ttimestamp:float\textra:token\n"
             "u1\tx\t3\t2.5\ta\nu1\ty\t3\t1.5\tb\nu2\ty\t5\t7\tc\nu2\tz\t5\t8\td\n");
  write_text(dir / "mine.item",
             "item_id:token\tmovie_title:token_seq\tyear:token\nx\tFirst\t1990\ny\tSecond\t1991\n"
             "z\tThird\t1992\n");
  const Dataset ds = load_dataset(config_for(dir.path()));
  EXPECT_EQ(raw_sequence(ds, 0), (Seq{"y", "x"}));
  EXPECT_EQ(raw_sequence(ds, 1), (Seq{"y", "z"}));
  EXPECT_EQ(ds.titles, (Seq{"", "First", "Second", "Third"}));
}

TEST(Formats, AtomicFilesWithoutTimestampOrRatingKeepLineOrder) {
  TempDir dir;
  write_text(dir / "d.inter", "user_id:token\titem_id:token\n1\t3\n1\t1\n1\t2\n");
  write_text(dir / "d.item", "item_id:token\ttitle:token_seq\n1\tone\n2\ttwo\n3\tthree\n");
  EXPECT_EQ(raw_sequence(load_dataset(config_for(dir.path())), 0), (Seq{"3", "1", "2"}));
  DatasetConfig cfg = config_for(dir.path());
  cfg.min_rating = 3;
  EXPECT_TRUE(contains(error_of([&] { load_dataset(cfg); }), "no rating column"));
}

TEST(Formats, SeveralSubsetsNeedDatasetSubset) {
  TempDir dir;
  write_text(dir / "ratings_Beauty.csv", "A,B,5.0,1\nA,C,5.0,2\n");
  write_gz(dir / "meta_Beauty.json.gz", "{'asin': 'B', 'title': 'b'}\n{'asin': 'C', 'title': 'c'}\n");
  write_text(dir / "ratings_Toys.csv", "A,T,5.0,1\nA,U,5.0,2\n");
  write_gz(dir / "meta_Toys.json.gz", "{'asin': 'T', 'title': 't'}\n{'asin': 'U', 'title': 'u'}\n");
  const std::string message = error_of([&] { load_dataset(config_for(dir.path())); });
  EXPECT_TRUE(contains(message, "Beauty, Toys")) << message;
  EXPECT_TRUE(contains(message, "dataset.subset")) << message;
  DatasetConfig cfg = config_for(dir.path());
  cfg.subset = "Toys";
  EXPECT_EQ(load_dataset(cfg).titles, (Seq{"", "t", "u"}));
  cfg.subset = "Books";
  EXPECT_TRUE(contains(error_of([&] { load_dataset(cfg); }), "no ratings_<Cat>.csv for it"));
}

TEST(Formats, MissingFilesListWhatIsExpectedAndWhereToGetIt) {
  TempDir dir;
  write_text(dir / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,1\n");
  std::string message = error_of([&] { load_dataset(config_for(dir.path())); });
  EXPECT_TRUE(contains(message, "missing movies.csv")) << message;
  EXPECT_TRUE(contains(message, "movieId,title,genres")) << message;
  EXPECT_TRUE(contains(message, "files.grouplens.org")) << message;

  message = error_of([&] { load_dataset(config_for(dir.path(), "ml-100k")); });
  EXPECT_TRUE(contains(message, "missing u.data and u.item")) << message;
  EXPECT_TRUE(contains(message, "ml-100k.zip")) << message;

  TempDir empty;
  message = error_of([&] { load_dataset(config_for(empty.path())); });
  for (const char* part : {"no known dataset files", "u.data", "ratings.dat", "ratings_<Cat>.csv",
                           "snap.stanford.edu", "<name>.inter", "RecSysDatasets"}) {
    EXPECT_TRUE(contains(message, part)) << part << " not in: " << message;
  }
  message = error_of([&] { load_dataset(config_for(empty / "nowhere")); });
  EXPECT_TRUE(contains(message, "is not a directory")) << message;
}

TEST(Formats, MalformedLineNamesFileLineAndQuotesIt) {
  TempDir dir;
  write_ml_csv(dir.path());
  write_text(dir / "ratings.csv",
             "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,four,964981247\n"
             "2,1,2.5,964982224\n2,29,3.5\n2,3,1.0,964983816\n");
  const std::string message = error_of([&] { load_dataset(config_for(dir.path())); });
  EXPECT_TRUE(contains(message, "ratings.csv:3: the rating is not a number: \"1,3,four,964981247\""))
      << message;
  EXPECT_TRUE(contains(message, "skip_bad_lines")) << message;

  DatasetConfig skip = config_for(dir.path());
  skip.skip_bad_lines = true;
  ::testing::internal::CaptureStderr();
  const Dataset ds = load_dataset(skip);
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(contains(log, "skipped 2 malformed lines")) << log;
  // Left: user 1 with one rating (dropped by min_uc = 2) and user 2 with two.
  ASSERT_EQ(ds.user_raw_ids, (Seq{"2"}));
  EXPECT_EQ(raw_sequence(ds, 0), (Seq{"1", "3"}));
}

TEST(Formats, MalformedMetadataAndHeaders) {
  TempDir dir;
  write_text(dir / "ratings_X.csv", "A,B,5.0,1\nA,C,5.0,2\n");
  write_gz(dir / "meta_X.json.gz", "{'asin': 'B', 'title': 'b'}\n{'asin': 'C', 'title': }\n");
  std::string message = error_of([&] { load_dataset(config_for(dir.path())); });
  EXPECT_TRUE(contains(message, "meta_X.json.gz:2: not a Python dict literal")) << message;
  EXPECT_TRUE(contains(message, "\"{'asin': 'C', 'title': }\"")) << message;

  TempDir atomic;
  write_text(atomic / "d.inter", "user_id\titem_id\n1\t2\n");
  write_text(atomic / "d.item", "item_id:token\ttitle:token_seq\n2\ttwo\n");
  message = error_of([&] { load_dataset(config_for(atomic.path())); });
  EXPECT_TRUE(contains(message, "has no type")) << message;
  write_text(atomic / "d.inter", "user:token\titem_id:token\n1\t2\n");
  message = error_of([&] { load_dataset(config_for(atomic.path())); });
  EXPECT_TRUE(contains(message, "no user_id column (found: user, item_id)")) << message;
  write_text(atomic / "d.inter", "user_id:token\titem_id:token\n1\t2\n1\t2\t3\n");
  message = error_of([&] { load_dataset(config_for(atomic.path())); });
  EXPECT_TRUE(contains(message, "d.inter:3: expected 2 tab-separated fields as in the header, found 3"))
      << message;

  TempDir ml;
  write_ml_csv(ml.path());
  write_text(ml / "ratings.csv", "user,item,rating,time\n1,1,4.0,1\n");
  message = error_of([&] { load_dataset(config_for(ml.path())); });
  EXPECT_TRUE(contains(message, "ratings.csv:1: expected the header")) << message;
}

TEST(Formats, EmptyResultNamesTheFilter) {
  TempDir dir;
  write_ml100k(dir.path());
  DatasetConfig cfg = config_for(dir.path());
  cfg.min_rating = 6;
  EXPECT_TRUE(
      contains(error_of([&] { load_dataset(cfg); }), "after the min_rating filter (dataset.min_rating = 6)"));
  cfg = config_for(dir.path());
  cfg.min_uc = 4;
  std::string message = error_of([&] { load_dataset(cfg); });
  EXPECT_TRUE(contains(message, "after the k-core filter (dataset.min_uc = 4, dataset.min_sc = 1"))
      << message;
  cfg = config_for(dir.path());
  cfg.min_uc = 0;
  cfg.min_rating = 5;  // user 1 keeps one rating
  message = error_of([&] { load_dataset(cfg); });
  EXPECT_TRUE(contains(message, "user 1 has only one interaction")) << message;
  write_text(dir / "u.item", "99|Elsewhere (1995)|x\n");
  message = error_of([&] { load_dataset(config_for(dir.path())); });
  EXPECT_TRUE(contains(message, "after dropping items without a title")) << message;
  write_text(dir / "u.data", "");
  message = error_of([&] { load_dataset(config_for(dir.path())); });
  EXPECT_TRUE(contains(message, "u.data: no interactions")) << message;
}

}  // namespace
}  // namespace lrec::data
