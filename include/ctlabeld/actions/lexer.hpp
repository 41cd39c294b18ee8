// SPDX-License-Identifier: GPL-3.0-or-later
// Tokens of the criteria language (Netify's flow expressions), with line:col for messages.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ctlabeld/actions/address_set.hpp"

namespace ctlabeld::actions {

enum class TokenKind : std::uint8_t {
  kEnd,
  kIdent,    // field names
  kNumber,   // 42, 0x2a
  kString,   // 'zoom' (value = contents)
  kAddress,  // 192.0.2.0/24, 2001:db8::1
  kCompact,  // ai:zoom (ident = "ai", value = "zoom")
  kStar,     // *
  kLParen,
  kRParen,
  kNot,  // !
  kAnd,  // && and
  kOr,   // || or
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kSemicolon,
  kTrue,
  kFalse,
  kMac,    // aa:bb:cc:dd:ee:ff (value = as written)
  kGroup,  // @name: a Netify address group (value = the name without '@')
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string_view text;  // as written
  std::uint32_t line = 1;
  std::uint32_t col = 1;
  std::uint64_t number = 0;
  std::string value;  // string contents; compact value; lowercase ident
  Cidr cidr{};
  Mac mac{};
};

struct LexResult {
  std::vector<Token> tokens;  // always ends with kEnd when `error` is empty
  std::string error;          // "line:col: message" without the location prefix
};

// Splits criteria text into tokens. On the first lexical error stops and fills `error`.
LexResult tokenize(std::string_view text);

// How a token is named in "found ..." messages: "';'", "'zoom'", "end of criteria".
std::string describe(const Token& token);

}  // namespace ctlabeld::actions
