#include <gtest/gtest.h>

#include "utf8.h"

using otb::utf8_repaired;
using otb::utf8_scan;

static std::string R(const std::string &s) {
  return utf8_repaired(otel_str{s.data(), s.size()});
}
static const std::string kFFFD = "\xEF\xBF\xBD";

TEST(Utf8, ValidTextPassesThrough) {
  for (std::string s :
       {"", "plain ascii long enough to use the fast path", "héllo wörld ✓ 日本語 🎉"}) {
    auto sc = utf8_scan(s.data(), s.size(), SIZE_MAX);
    EXPECT_TRUE(sc.valid) << s;
    EXPECT_EQ(sc.out_len, s.size());
    EXPECT_EQ(R(s), s);
  }
}

TEST(Utf8, InvalidBytesBecomeReplacementCharacters) {
  EXPECT_EQ(R("ab\xff"
              "cd"),
            "ab" + kFFFD + "cd");
  EXPECT_EQ(R("end\xe6\x97"), "end" + kFFFD);           // truncated 3-byte sequence: one U+FFFD
  EXPECT_EQ(R("\xc0\xaf"), kFFFD + kFFFD);              // overlong: each byte
  EXPECT_EQ(R("\xed\xa0\x80"), kFFFD + kFFFD + kFFFD);  // UTF-16 surrogate
  EXPECT_EQ(R("\xf4\x90\x80\x80"), kFFFD + kFFFD + kFFFD + kFFFD);  // above U+10FFFF
  EXPECT_EQ(R("\xe2\x9c"
              "x"),
            kFFFD + "x");
  auto sc = utf8_scan("ab\xff", 3, SIZE_MAX);
  EXPECT_FALSE(sc.valid);
  EXPECT_EQ(sc.out_len, 5u);
}

TEST(Utf8, CharacterLimitNeverSplitsACharacter) {
  std::string s = "ü日🎉abc";
  auto sc = utf8_scan(s.data(), s.size(), 3);
  EXPECT_EQ(s.substr(0, sc.in_len), "ü日🎉");
  sc = utf8_scan(s.data(), s.size(), 0);
  EXPECT_EQ(sc.in_len, 0u);
  std::string bad =
      "\xff\xff"
      "abc";
  sc = utf8_scan(bad.data(), bad.size(), 3);
  EXPECT_EQ(sc.in_len, 3u);  // two replacement characters and 'a'
  EXPECT_EQ(sc.out_len, 7u);
}
