// SPDX-License-Identifier: GPL-3.0-or-later
// Criteria lexer: one pass, each token remembers where it started for line:col messages.
#include "ctlabeld/actions/lexer.hpp"

#include <cctype>
#include <charconv>
#include <cstdio>

namespace ctlabeld::actions {
namespace {

bool is_ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }
// Characters of a compact-form name: ai:google-meet, ai:netify.zoom, pc:web*, pi:http/s.
bool is_compact_char(char c) {
  return is_ident_char(c) || c == '.' || c == '-' || c == '*' || c == '+' || c == '/';
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  LexResult run() {
    LexResult result;
    while (true) {
      skip_space();
      Token t;
      t.line = line_;
      t.col = col();
      const std::size_t start = pos_;
      if (!next(t)) {
        result.error = std::to_string(t.line) + ":" + std::to_string(t.col) + ": " + error_;
        return result;
      }
      t.text = text_.substr(start, pos_ - start);
      const bool end = t.kind == TokenKind::kEnd;
      result.tokens.push_back(std::move(t));
      if (end) return result;
    }
  }

 private:
  std::uint32_t col() const { return static_cast<std::uint32_t>(pos_ - line_start_ + 1); }
  bool at(std::size_t off, char c) const {
    return pos_ + off < text_.size() && text_[pos_ + off] == c;
  }

  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) {
      if (text_[pos_] == '\n') {
        ++line_;
        line_start_ = pos_ + 1;
      }
      ++pos_;
    }
  }

  bool fail(std::string message) {
    error_ = std::move(message);
    return false;
  }

  bool next(Token& t) {
    if (pos_ >= text_.size()) {
      t.kind = TokenKind::kEnd;
      return true;
    }
    const char c = text_[pos_];
    auto one = [&](TokenKind k, std::size_t len) {
      t.kind = k;
      pos_ += len;
      return true;
    };
    switch (c) {
      case '(': return one(TokenKind::kLParen, 1);
      case ')': return one(TokenKind::kRParen, 1);
      case ';': return one(TokenKind::kSemicolon, 1);
      case '*': return one(TokenKind::kStar, 1);
      case '!': return at(1, '=') ? one(TokenKind::kNe, 2) : one(TokenKind::kNot, 1);
      case '<': return at(1, '=') ? one(TokenKind::kLe, 2) : one(TokenKind::kLt, 1);
      case '>': return at(1, '=') ? one(TokenKind::kGe, 2) : one(TokenKind::kGt, 1);
      case '=':
        if (at(1, '=')) return one(TokenKind::kEq, 2);
        return fail("unexpected '='; comparisons use '=='");
      case '&':
        if (at(1, '&')) return one(TokenKind::kAnd, 2);
        return fail("unexpected '&'; logical and is '&&' or 'and'");
      case '|':
        if (at(1, '|')) return one(TokenKind::kOr, 2);
        return fail("unexpected '|'; logical or is '||' or 'or'");
      case '\'':
      case '"': return string(t, c);
      case '@': return group(t);
      default: break;
    }
    if (mac(t)) return true;
    if (compact(t) || address(t)) return error_.empty();
    if (!error_.empty()) return false;
    if (std::isdigit(static_cast<unsigned char>(c))) return number(t);
    if (is_ident_start(c)) return ident(t);
    if (std::isprint(static_cast<unsigned char>(c))) {
      return fail(std::string("unexpected character '") + c + "'");
    }
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned>(static_cast<unsigned char>(c)));
    return fail(std::string("unexpected byte ") + hex);
  }

  // 'text' or "text". No escapes except \' (or \"): regex backslashes pass through unchanged.
  bool string(Token& t, char quote) {
    ++pos_;
    std::string value;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      if (text_[pos_] == '\\' && pos_ + 1 < text_.size() && text_[pos_ + 1] == quote) ++pos_;
      if (text_[pos_] == '\n') return fail("unterminated string: add the closing quote");
      value += text_[pos_++];
    }
    if (pos_ >= text_.size()) return fail("unterminated string: add the closing quote");
    ++pos_;
    t.kind = TokenKind::kString;
    t.value = std::move(value);
    return true;
  }

  // ai:zoom, ac:<category>, pi:<protocol>, pc:<category>, each also ai:'Name With Spaces'.
  bool compact(Token& t) {
    if (pos_ + 2 >= text_.size() || text_[pos_ + 2] != ':') return false;
    const std::string prefix = lowercase(text_.substr(pos_, 2));
    if (prefix != "ai" && prefix != "ac" && prefix != "pi" && prefix != "pc") return false;
    if (pos_ + 3 < text_.size() && text_[pos_ + 3] == ':') return false;  // "ac::1" is IPv6
    pos_ += 3;
    t.kind = TokenKind::kCompact;
    t.value = prefix;
    std::string name;
    if (pos_ < text_.size() && (text_[pos_] == '\'' || text_[pos_] == '"')) {
      Token s;
      if (!string(s, text_[pos_])) return true;  // error_ set
      name = std::move(s.value);
    } else {
      while (pos_ < text_.size() && is_compact_char(text_[pos_])) name += text_[pos_++];
    }
    if (name.empty()) {
      fail("expected a name after '" + prefix + ":', e.g. " + prefix + ":zoom");
      return true;
    }
    t.value += ':';
    t.value += name;
    return true;
  }

  // aa:bb:cc:dd:ee:ff: tried before addresses, as it is no valid IPv6 (six groups, no "::").
  bool mac(Token& t) {
    if (pos_ + 17 > text_.size()) return false;
    if (pos_ + 17 < text_.size() && (is_ident_char(text_[pos_ + 17]) || text_[pos_ + 17] == ':')) {
      return false;
    }
    Mac m;
    if (!parse_mac(text_.substr(pos_, 17), m) || text_[pos_ + 2] != ':') return false;
    t.kind = TokenKind::kMac;
    t.mac = m;
    t.value = lowercase(text_.substr(pos_, 17));
    pos_ += 17;
    return true;
  }

  // @iot-devices: a name from Netify's address-groups file.
  bool group(Token& t) {
    std::size_t end = pos_ + 1;
    while (end < text_.size() &&
           (is_ident_char(text_[end]) || text_[end] == '-' || text_[end] == '.')) {
      ++end;
    }
    if (end == pos_ + 1) return fail("expected an address group name after '@', e.g. @iot-devices");
    t.kind = TokenKind::kGroup;
    t.value = std::string(text_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end;
    return true;
  }

  // 192.0.2.1, 10.0.0.0/8, 2001:db8::/32, ::1. Tried before numbers and identifiers since
  // "fe80::1" starts like an identifier and "10.0.0.1" like a number.
  bool address(Token& t) {
    std::size_t end = pos_;
    std::size_t colons = 0;
    std::size_t dots = 0;
    while (end < text_.size() && (is_hex(text_[end]) || text_[end] == ':' || text_[end] == '.')) {
      colons += text_[end] == ':';
      dots += text_[end] == '.';
      ++end;
    }
    // Two colons make IPv6; any dot after a digit run makes an IPv4 attempt (the language has
    // no decimals), so "1.2.3.4.5" is reported as a bad address, not a stray '.'.
    if (colons < 2 && (dots == 0 || !std::isdigit(static_cast<unsigned char>(text_[pos_])))) {
      return false;
    }
    if (end < text_.size() && is_ident_char(text_[end])) return false;  // e.g. "a1:b2:cx"
    const std::string_view addr = text_.substr(pos_, end - pos_);
    std::size_t full_end = end;
    if (full_end < text_.size() && text_[full_end] == '/') {
      ++full_end;
      while (full_end < text_.size() && std::isdigit(static_cast<unsigned char>(text_[full_end]))) {
        ++full_end;
      }
    }
    const std::string_view whole = text_.substr(pos_, full_end - pos_);
    Cidr cidr;
    if (!parse_cidr(whole, cidr)) {
      Cidr host;
      if (parse_cidr(addr, host)) {
        fail("invalid prefix length in '" + std::string(whole) + "' (IPv" +
             std::to_string(host.ip_version) + " allows 0-" +
             std::to_string(host.ip_version == 4 ? 32 : 128) + ")");
      } else {
        fail("invalid IP address '" + std::string(whole) + "'");
      }
      return true;
    }
    pos_ = full_end;
    t.kind = TokenKind::kAddress;
    t.cidr = cidr;
    return true;
  }

  bool number(Token& t) {
    std::size_t end = pos_;
    int base = 10;
    if (text_[pos_] == '0' && pos_ + 1 < text_.size() &&
        (text_[pos_ + 1] == 'x' || text_[pos_ + 1] == 'X')) {
      base = 16;
      end += 2;
    }
    const std::size_t digits = end;
    while (end < text_.size() && is_ident_char(text_[end])) ++end;
    const std::string_view word = text_.substr(pos_, end - pos_);
    const auto [p, ec] = std::from_chars(text_.data() + digits, text_.data() + end, t.number, base);
    if (digits == end || p != text_.data() + end) {
      return fail("invalid number '" + std::string(word) + "'");
    }
    if (ec == std::errc::result_out_of_range) {
      return fail("number '" + std::string(word) + "' is too large");
    }
    pos_ = end;
    t.kind = TokenKind::kNumber;
    return true;
  }

  bool ident(Token& t) {
    const std::size_t start = pos_;
    // '-' between word characters stays in the word: the language has no subtraction, and an
    // unquoted interface name (br-lan) then gets the parser's "quote names" hint.
    while (pos_ < text_.size() &&
           (is_ident_char(text_[pos_]) ||
            (text_[pos_] == '-' && pos_ + 1 < text_.size() && is_ident_char(text_[pos_ + 1])))) {
      ++pos_;
    }
    t.value = lowercase(text_.substr(start, pos_ - start));
    if (t.value == "and") {
      t.kind = TokenKind::kAnd;
    } else if (t.value == "or") {
      t.kind = TokenKind::kOr;
    } else if (t.value == "true") {
      t.kind = TokenKind::kTrue;
    } else if (t.value == "false") {
      t.kind = TokenKind::kFalse;
    } else {
      t.kind = TokenKind::kIdent;
    }
    return true;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::uint32_t line_ = 1;
  std::size_t line_start_ = 0;
  std::string error_;
};

}  // namespace

LexResult tokenize(std::string_view text) { return Lexer(text).run(); }

std::string describe(const Token& token) {
  if (token.kind == TokenKind::kEnd) return "end of criteria";
  if (token.kind == TokenKind::kString) return std::string(token.text);  // already quoted
  // Appended piecewise: GCC 12's "'" + std::string(...) trips a false -Wrestrict (PR 105329).
  std::string quoted;
  quoted.reserve(token.text.size() + 2);
  quoted.append(1, '\'').append(token.text).append(1, '\'');
  return quoted;
}

}  // namespace ctlabeld::actions
