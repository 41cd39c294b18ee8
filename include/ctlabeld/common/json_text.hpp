// SPDX-License-Identifier: GPL-3.0-or-later
// JSON string escaping, one copy for every JSON writer (--flows, the stats, the log target).
#pragma once

#include <string>
#include <string_view>

namespace ctlabeld {

// Appends `text` escaped for a JSON string (without the quotes). Bytes outside printable ASCII
// come off the wire (host names): each is written as its own \u00XX code point, so the output
// is valid JSON whatever the bytes.
void append_json_string(std::string_view text, std::string& out);

// "key":"value", with the value escaped and a comma after it.
void append_json_member(std::string_view key, std::string_view value, std::string& out);

struct FlowTuple;
// The tuple's JSON members, each followed by a comma: "ip_version", "ip_protocol", "src_ip",
// "src_port", "dst_ip", "dst_port", for ICMP "icmp_type", "icmp_code", "icmp_id", and "vlan".
void append_tuple_json(const FlowTuple& t, std::string& out);

}  // namespace ctlabeld
