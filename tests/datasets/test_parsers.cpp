// Low-level parsers: CSV records, Python literals, title cleaning, encodings, raw-id order, line reading.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "datasets/csv.h"
#include "datasets/line_reader.h"
#include "datasets/preprocess.h"
#include "datasets/python_literal.h"
#include "datasets/text.h"
#include "datasets/titles.h"
#include "test_util.h"

namespace lrec::data {
namespace {

using testing::TempDir;

std::vector<std::string> csv(std::string_view line) {
  std::vector<std::string> fields;
  std::string error;
  EXPECT_TRUE(split_csv(line, fields, error)) << error;
  return fields;
}

TEST(Csv, SplitsPlainAndQuotedFields) {
  EXPECT_EQ(csv("1,Toy Story (1995),Comedy"), (std::vector<std::string>{"1", "Toy Story (1995)", "Comedy"}));
  EXPECT_EQ(csv("29,\"City of Lost Children, The (1995)\",Drama"),
            (std::vector<std::string>{"29", "City of Lost Children, The (1995)", "Drama"}));
  EXPECT_EQ(csv("7,\"Say \"\"Hi\"\", Bob\",x"), (std::vector<std::string>{"7", "Say \"Hi\", Bob", "x"}));
  EXPECT_EQ(csv("a,,\"\",b,"), (std::vector<std::string>{"a", "", "", "b", ""}));
}

TEST(Csv, ReusesTheFieldVectorWithFewerFields) {
  std::vector<std::string> fields;
  std::string error;
  ASSERT_TRUE(split_csv("a,b,c,d", fields, error));
  ASSERT_TRUE(split_csv("x,y", fields, error));
  EXPECT_EQ(fields, (std::vector<std::string>{"x", "y"}));
}

TEST(Csv, RejectsMalformedQuoting) {
  std::vector<std::string> fields;
  std::string error;
  EXPECT_FALSE(split_csv("1,\"open title,x", fields, error));
  EXPECT_NE(error.find("no closing quote"), std::string::npos);
  EXPECT_FALSE(split_csv("1,\"a\"b,x", fields, error));
  EXPECT_NE(error.find("after the closing quote"), std::string::npos);
  EXPECT_FALSE(split_csv("1,a\"b,x", fields, error));
  EXPECT_NE(error.find("inside an unquoted field"), std::string::npos);
}

TEST(PythonLiteral, ParsesAmazonMetadataLine) {
  const auto v = parse_python_literal(
      "{'asin': '0000031852', 'title': 'Girls\\' Ballet Tutu \"Zebra\"', 'price': 3.99, 'salesRank': {'Toys "
      "& Games': "
      "211836}, 'categories': [['Sports & Outdoors', 'Dance']], 'related': {'also_bought': ('B00JHONN1S',)}, "
      "'gift': True, 'used': False, 'brand': None, 'count': -12, 'big': 1e3}");
  EXPECT_EQ(v["asin"], "0000031852");
  EXPECT_EQ(v["title"], "Girls' Ballet Tutu \"Zebra\"");
  EXPECT_DOUBLE_EQ(v["price"].get<double>(), 3.99);
  EXPECT_EQ(v["salesRank"]["Toys & Games"], 211836);
  EXPECT_EQ(v["categories"][0][1], "Dance");
  EXPECT_EQ(v["related"]["also_bought"][0], "B00JHONN1S");
  EXPECT_EQ(v["gift"], true);
  EXPECT_EQ(v["used"], false);
  EXPECT_TRUE(v["brand"].is_null());
  EXPECT_EQ(v["count"], -12);
  EXPECT_DOUBLE_EQ(v["big"].get<double>(), 1000.0);
}

TEST(PythonLiteral, DecodesEscapes) {
  EXPECT_EQ(parse_python_literal(R"('a\tb\nc\\d\'e\"f')"), "a\tb\nc\\d'e\"f");
  EXPECT_EQ(parse_python_literal(R"('caf\xe9')"), "caf\xc3\xa9");      // Python 3: \xe9 is U+00E9
  EXPECT_EQ(parse_python_literal(R"('caf\xc3\xa9')"), "caf\xc3\xa9");  // Python 2 bytes of UTF-8
  EXPECT_EQ(parse_python_literal(R"(u'\u00e9\U0001F600')"), "\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(parse_python_literal(R"("\ud83d\ude00")"), "\xf0\x9f\x98\x80");  // a JSON surrogate pair
  EXPECT_EQ(parse_python_literal(R"('\101\x42')"), "AB");                    // octal and hex
  EXPECT_EQ(parse_python_literal(R"(r'\d+\n')"), "\\d+\\n");                 // raw: kept as written
  EXPECT_EQ(parse_python_literal(R"('\q')"), "\\q");                         // unknown escapes stay
  EXPECT_EQ(parse_python_literal(R"('ab' "cd")"), "abcd");                   // adjacent literals join
  EXPECT_EQ(parse_python_literal("'''it's \"triple\"'''"), "it's \"triple\"");
}

TEST(PythonLiteral, ParsesContainersAndJsonKeywords) {
  EXPECT_EQ(parse_python_literal("[1, 2, 3,]"), nlohmann::json({1, 2, 3}));
  EXPECT_EQ(parse_python_literal("()"), nlohmann::json::array());
  EXPECT_EQ(parse_python_literal("(7)"), 7);  // parentheses, not a tuple
  EXPECT_EQ(parse_python_literal("{'a', 'b'}"), nlohmann::json({"a", "b"}));
  EXPECT_EQ(parse_python_literal("{1: 'one'}")["1"], "one");
  EXPECT_EQ(parse_python_literal("{\"k\": [true, false, null]}")["k"],
            nlohmann::json({true, false, nullptr}));
  EXPECT_EQ(parse_python_literal("12L"), 12);
  EXPECT_DOUBLE_EQ(parse_python_literal("-.5").get<double>(), -0.5);
  EXPECT_DOUBLE_EQ(parse_python_literal("2.").get<double>(), 2.0);
}

TEST(PythonLiteral, KeepsOnlyRequestedFields) {
  const auto v = parse_python_dict_fields("{'related': {'x': [1, 2]}, 'asin': 'A1', 'title': 'T', 'n': 3}",
                                          {"asin", "title"});
  EXPECT_EQ(v, nlohmann::json({{"asin", "A1"}, {"title", "T"}}));
}

TEST(PythonLiteral, RejectsCodeAndMalformedText) {
  for (const char* text :
       {"__import__('os').system('echo hi')", "{'a': open('/etc/passwd')}", "{'a': 1", "{'a' 1}",
        "'unterminated", "[1, 2", "{'a': 1} trailing", "1.2.3", "'\\x4'", "'line\nbreak'"}) {
    EXPECT_THROW(parse_python_literal(text), PythonLiteralError) << text;
  }
  EXPECT_THROW(parse_python_dict_fields("['not', 'a', 'dict']", {"asin"}), PythonLiteralError);
  try {
    parse_python_literal("{'a': 1, 'b': nope}");
    FAIL();
  } catch (const PythonLiteralError& e) {
    EXPECT_EQ(e.offset, 14u);
    EXPECT_NE(std::string(e.what()).find("'nope' is not a literal"), std::string::npos);
  }
}

TEST(PythonLiteral, RejectsDeepNesting) {
  EXPECT_THROW(parse_python_literal(std::string(100000, '[')), PythonLiteralError);
}

TEST(Titles, CleansAsLlamaRec) {
  EXPECT_EQ(clean_movielens_title("Toy Story (1995)"), "Toy Story (1995)");
  EXPECT_EQ(clean_movielens_title("City of Lost Children, The (Cité des enfants perdus, La) (1995)"),
            "The City of Lost Children (1995)");
  EXPECT_EQ(clean_movielens_title("Man Escaped, A (Un  condamné à mort) (1956)"), "A Man Escaped (1956)");
  EXPECT_EQ(clean_movielens_title("Affair of Love, An (Liaison pornographique, Une) (1999)"),
            "An Affair of Love (1999)");
  EXPECT_EQ(clean_movielens_title("Misérables, Les (1995)"),
            "Misérables, Les (1995)");  // not an English article
  EXPECT_EQ(
      clean_movielens_title("Good, the Bad and the Ugly, The (Buono, il brutto, il cattivo, Il) (1966)"),
      "The Good, the Bad and the Ugly (1966)");
  EXPECT_EQ(clean_movielens_title("Big Boss, The (Fists of Fury) (Tang shan da xiong) (1971)"),
            "The Big Boss (1971)");
  EXPECT_EQ(clean_movielens_title("Assembly (Ji jie hao) (2007) "), "Assembly (2007)");  // trailing space
  EXPECT_EQ(clean_movielens_title("Babylon 5"), "Babylon 5");                            // no year
  EXPECT_EQ(clean_movielens_title("Death Note: Desu nôto (2006–2007)"), "Death Note: Desu nôto (2006–2007)");
  EXPECT_EQ(clean_movielens_title("Blind Side, The  (2009)"), "The Blind Side (2009)");
  EXPECT_EQ(clean_movielens_title("Ugly (the movie) Truth (2009)"), "Ugly Truth (2009)");  // spaces collapsed
}

TEST(Text, RepairsLatin1AndKeepsUtf8) {
  EXPECT_EQ(to_utf8("Mis\xe9rables"), "Mis\xc3\xa9rables");              // latin-1 é
  EXPECT_EQ(to_utf8("Mis\xc3\xa9rables"), "Mis\xc3\xa9rables");          // already UTF-8
  EXPECT_EQ(to_utf8("Mis\xef\xbf\xbdrables"), "Mis\xef\xbf\xbdrables");  // U+FFFD stays
  EXPECT_FALSE(is_valid_utf8("\xc0\x80"));                               // overlong
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));                           // surrogate
  EXPECT_TRUE(is_valid_utf8("\xf0\x9f\x98\x80"));
}

TEST(Text, ParsesNumbersStrictly) {
  int64_t i = 0;
  double d = 0;
  EXPECT_TRUE(parse_int(" 42 ", i));
  EXPECT_EQ(i, 42);
  EXPECT_FALSE(parse_int("4x", i));
  EXPECT_FALSE(parse_int("", i));
  EXPECT_FALSE(parse_int("99999999999999999999", i));
  EXPECT_TRUE(parse_double("4.5", d));
  EXPECT_DOUBLE_EQ(d, 4.5);
  EXPECT_TRUE(parse_double("964982703", d));
  EXPECT_DOUBLE_EQ(d, 964982703.0);
  EXPECT_FALSE(parse_double("nan", d));
  EXPECT_FALSE(parse_double("five", d));
}

TEST(RawIdRanks, NumericWhenAllIdsAreIntegers) {
  EXPECT_EQ(raw_id_ranks({"10", "9", "100", "1"}), (std::vector<uint32_t>{2, 1, 3, 0}));
  EXPECT_EQ(raw_id_ranks({"007", "7", "6"}), (std::vector<uint32_t>{1, 2, 0}));  // equal numbers: by spelling
  EXPECT_EQ(raw_id_ranks({"10", "9", "B00X"}), (std::vector<uint32_t>{0, 1, 2}));  // lexicographic
}

TEST(LineReader, ReadsPlainAndGzipLinesWithNumbers) {
  TempDir dir;
  std::string long_line(5 << 20, 'x');  // longer than one 4 MiB read
  const std::string text =
      "\xEF\xBB\xBF"
      "first\r\n\n  \nthird\n" +
      long_line + "\nlast";
  testing::write_text(dir / "a.txt", text);
  testing::write_gz(dir / "a.txt.gz", text);
  for (const char* name : {"a.txt", "a.txt.gz"}) {
    std::vector<std::pair<size_t, size_t>> seen;  // (number, length)
    std::vector<std::string> short_lines;
    for_each_line(dir / name, [&](std::string_view line, size_t number) {
      seen.emplace_back(number, line.size());
      if (line.size() < 100) short_lines.emplace_back(line);
    });
    EXPECT_EQ(seen, (std::vector<std::pair<size_t, size_t>>{{1, 5}, {4, 5}, {5, long_line.size()}, {6, 4}}))
        << name;
    EXPECT_EQ(short_lines, (std::vector<std::string>{"first", "third", "last"})) << name;
  }
  EXPECT_NE(testing::error_of([&] {
              for_each_line(dir / "missing.txt", [](std::string_view, size_t) {});
            }).find("missing.txt"),
            std::string::npos);
}

TEST(BadLines, FailsWithFileLineAndQuotedLineOrCounts) {
  BadLines strict("data/ratings.csv", false);
  const std::string message =
      testing::error_of([&] { strict.report(17, "1,2,x,4", "the rating is not a number"); });
  EXPECT_NE(message.find("data/ratings.csv:17: the rating is not a number: \"1,2,x,4\""), std::string::npos);
  EXPECT_NE(message.find("skip_bad_lines"), std::string::npos);
  BadLines lenient("data/ratings.csv", true);
  lenient.report(3, "a", "bad");
  lenient.report(9, "b", "bad");
  EXPECT_EQ(lenient.skipped(), 2u);
}

}  // namespace
}  // namespace lrec::data
