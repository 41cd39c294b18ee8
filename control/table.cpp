// SPDX-License-Identifier: GPL-3.0-or-later
// Generic JSON-to-text rendering for `ctlabeld ctl` (see table.hpp for the rules).
#include "ctlabeld/control/table.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <charconv>
#include <vector>

namespace ctlabeld::control {

namespace {

using rapidjson::Value;
constexpr std::size_t kMaxColumn = 48;  // wider cells are cut, except in the last column

std::string clean(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = '?';  // a hostname cannot move the cursor
  }
  return out;
}

std::string compact(const Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

bool is_scalar(const Value& v) { return !v.IsObject() && !v.IsArray(); }
bool is_scalar_array(const Value& v) {
  if (!v.IsArray()) return false;
  return std::all_of(v.Begin(), v.End(), [](const Value& e) { return is_scalar(e); });
}
bool is_table(const Value& v) {
  if (!v.IsArray() || v.Empty()) return false;
  return std::all_of(v.Begin(), v.End(), [](const Value& e) { return e.IsObject(); });
}

std::string scalar_text(const Value& v) {
  if (v.IsNull()) return "-";
  if (v.IsBool()) return v.GetBool() ? "true" : "false";
  if (v.IsString()) return clean(std::string_view(v.GetString(), v.GetStringLength()));
  if (v.IsInt64()) return std::to_string(v.GetInt64());
  if (v.IsUint64()) return std::to_string(v.GetUint64());
  if (v.IsNumber()) {
    char buf[64];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v.GetDouble(), std::chars_format::fixed, 3);
    std::string s(buf, ec == std::errc() ? p : buf);
    while (s.find('.') != std::string::npos && (s.back() == '0' || s.back() == '.')) {
      const bool dot = s.back() == '.';
      s.pop_back();
      if (dot) break;
    }
    return s;
  }
  return compact(v);
}

// A value inside a line or a table cell.
std::string cell_text(const Value& v) {
  if (is_scalar(v)) return scalar_text(v);
  if (is_scalar_array(v)) {
    if (v.Empty()) return "-";
    std::string out;
    for (const auto& e : v.GetArray()) {
      if (!out.empty()) out += ',';
      out += scalar_text(e);
    }
    return out;
  }
  return clean(compact(v));
}

std::string fit(const std::string& s, std::size_t width) {
  if (s.size() <= width) return s + std::string(width - s.size(), ' ');
  return s.substr(0, width - 3) + "...";
}

void render_table(const Value& rows, const std::string& indent, std::string& out) {
  std::vector<std::string> columns;
  for (const auto& row : rows.GetArray()) {
    for (const auto& m : row.GetObject()) {
      std::string name(m.name.GetString(), m.name.GetStringLength());
      if (std::find(columns.begin(), columns.end(), name) == columns.end()) {
        columns.push_back(std::move(name));
      }
    }
  }
  std::vector<std::vector<std::string>> cells;
  std::vector<std::size_t> width(columns.size());
  for (std::size_t i = 0; i < columns.size(); ++i) width[i] = columns[i].size();
  for (const auto& row : rows.GetArray()) {
    auto& line = cells.emplace_back();
    for (std::size_t i = 0; i < columns.size(); ++i) {
      const auto it = row.FindMember(columns[i].c_str());
      line.push_back(it == row.MemberEnd() ? "-" : cell_text(it->value));
      width[i] = std::max(width[i], line.back().size());
    }
  }
  auto emit = [&](const std::vector<std::string>& line) {
    std::string text = indent;
    for (std::size_t i = 0; i < line.size(); ++i) {
      if (i + 1 == line.size()) {
        text += line[i];
      } else {
        text += fit(line[i], std::min(width[i], kMaxColumn));
        text += "  ";
      }
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text;
    out += '\n';
  };
  std::vector<std::string> header;
  for (const auto& c : columns) {
    std::string h = c;
    std::transform(h.begin(), h.end(), h.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
    header.push_back(std::move(h));
  }
  emit(header);
  for (const auto& line : cells) emit(line);
}

void render_object(const Value& obj, const std::string& indent, std::string& out) {
  std::size_t key_width = 0;
  for (const auto& m : obj.GetObject()) {
    if (!is_table(m.value) && !m.value.IsObject()) {
      key_width = std::max<std::size_t>(key_width, m.name.GetStringLength());
    }
  }
  key_width = std::min(key_width, kMaxColumn);
  for (const auto& m : obj.GetObject()) {
    const std::string key = clean(std::string_view(m.name.GetString(), m.name.GetStringLength()));
    if (is_table(m.value)) {
      out += indent + key + ":\n";
      render_table(m.value, indent + "  ", out);
    } else if (m.value.IsObject()) {
      out += indent + key + ":\n";
      if (m.value.ObjectEmpty()) out += indent + "  -\n";
      render_object(m.value, indent + "  ", out);
    } else {
      out += indent + fit(key, key_width) + "  " + cell_text(m.value) + "\n";
    }
  }
}

}  // namespace

Expected<std::string> render_reply(std::string_view json_line) {
  rapidjson::Document doc;
  doc.Parse(json_line.data(), json_line.size());
  if (doc.HasParseError()) {
    return Expected<std::string>::failure(std::string("the daemon's reply is not JSON (offset ") +
                                          std::to_string(doc.GetErrorOffset()) + ": " +
                                          rapidjson::GetParseError_En(doc.GetParseError()) +
                                          "); run with --json to see it");
  }
  const Value& root = doc;  // const: its iterators compare unambiguously in C++20
  if (!root.IsObject() || !root.HasMember("ok") || !root["ok"].IsBool()) {
    return Expected<std::string>::failure(
        "the daemon's reply has no \"ok\" member; run with --json to see it");
  }
  if (!root["ok"].GetBool()) {
    Errors errors;
    const auto it = root.FindMember("errors");
    if (it != root.MemberEnd() && it->value.IsArray()) {
      for (const auto& e : it->value.GetArray()) errors.push_back(cell_text(e));
    }
    if (errors.empty()) errors.emplace_back("the daemon refused the request without a reason");
    return Expected<std::string>::failure(std::move(errors));
  }
  const auto it = root.FindMember("result");
  if (it == root.MemberEnd()) return std::string();
  std::string out;
  const Value& result = it->value;
  if (result.IsObject()) {
    render_object(result, "", out);
  } else if (is_table(result)) {
    render_table(result, "", out);
  } else if (result.IsArray() && result.Empty()) {
    out = "(none)\n";
  } else {
    out = cell_text(result) + "\n";
  }
  return out;
}

std::string render_event(std::string_view json_line) {
  rapidjson::Document doc;
  doc.Parse(json_line.data(), json_line.size());
  if (doc.HasParseError() || !doc.IsObject()) return clean(json_line);
  const Value& root = doc;
  std::string out;
  for (const auto& m : root.GetObject()) {
    if (!out.empty()) out += ' ';
    out += clean(std::string_view(m.name.GetString(), m.name.GetStringLength()));
    out += '=';
    std::string v = cell_text(m.value);
    if (v.empty() || v.find_first_of(" \"=") != std::string::npos) {
      std::string q = "\"";
      for (char c : v) {
        if (c == '"' || c == '\\') q += '\\';
        q += c;
      }
      v = q + "\"";
    }
    out += v;
  }
  return out;
}

}  // namespace ctlabeld::control
