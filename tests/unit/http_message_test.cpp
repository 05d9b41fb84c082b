#include "protocol/http_message.h"

#include <gtest/gtest.h>

using tt::protocol::HttpMessage;

TEST(HttpMessage, HeaderLookupIsCaseInsensitiveFirstWins) {
  HttpMessage m;
  m.headers = {{"Content-Type", "a"}, {"content-type", "b"}, {"X-Y", "z"}};
  ASSERT_NE(m.header("content-TYPE"), nullptr);
  EXPECT_EQ(*m.header("content-TYPE"), "a");
  EXPECT_EQ(*m.header("x-y"), "z");
  EXPECT_EQ(m.header("x"), nullptr);
  EXPECT_EQ(m.header("X-Yz"), nullptr);
}
