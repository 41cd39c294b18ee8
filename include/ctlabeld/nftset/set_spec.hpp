// SPDX-License-Identifier: GPL-3.0-or-later
// What a target describes of an nft set (its name, family, key fields) and the key layout those
// fields give: shared by the actions stage (checks, --check) and the writer. No netlink here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ctlabeld/common/set_member.hpp"

namespace ctlabeld::nftset {

// A flow field of a target's `type` array, in Netify's names.
enum class Field : std::uint8_t {
  kLocalMac,
  kOtherMac,
  kLocalAddr,
  kOtherAddr,
  kLocalPort,
  kOtherPort,
  kIpProto,
  kMark,
  kInterface,
};
[[nodiscard]] std::optional<Field> field_from_name(std::string_view name);
[[nodiscard]] std::string_view field_name(Field field);

enum class Family : std::uint8_t { kIpv4 = 4, kIpv6 = 6 };
// Netify's family suffix: "nfa.blocks" -> "nfa.blocks.v4" / "nfa.blocks.v6".
[[nodiscard]] std::string set_name_for(std::string_view base, Family family);

// The largest key: 4 fields of 16 bytes would be 64; the kernel's limit is 64 bytes
// (NFT_REG32_COUNT registers of 4 bytes).
inline constexpr std::size_t kMaxKeyBytes = 64;
// nft packs each field's data type in 6 bits of the set's 32-bit key type: at most 5 fields.
inline constexpr std::size_t kMaxFields = 5;

// The key a set needs for `fields` in `family`: nft's data type ids concatenated (6 bits each,
// first field highest, as nft writes them), the key length (fields padded to 32 bits when
// concatenated) and the nft spelling ("ipv4_addr . inet_proto . inet_service . ipv4_addr").
struct KeyLayout {
  std::uint32_t key_type = 0;
  std::uint32_t key_len = 0;
  std::string text;
};
[[nodiscard]] KeyLayout key_layout(std::span<const Field> fields, Family family);
// nft's spelling of a key type read back from the kernel, for messages.
[[nodiscard]] std::string describe_key_type(std::uint32_t key_type);

// Writes the key of `member` at `out` (kMaxKeyBytes of room) in the set's byte layout and
// returns its length; 0 when the member's IP version is not `family`.
[[nodiscard]] std::size_t encode_key(std::span<const Field> fields, Family family,
                                     const MemberFields& member, std::byte* out) noexcept;

// The inverse: the fields of `member` that the key holds, from `len` key bytes (the writer keeps
// only the key of an element it re-adds). False when `len` is not the layout's length.
[[nodiscard]] bool decode_key(std::span<const Field> fields, Family family, const std::byte* key,
                              std::size_t len, MemberFields& member) noexcept;

// One nft set as a target describes it, after the family suffix is applied.
struct SetSpec {
  std::string table = "nfa";
  std::string table_family = "inet";  // inet, ip, ip6, bridge, netdev, arp
  std::string set;                    // full name, e.g. "nfa.blocks.v4"
  Family family = Family::kIpv4;
  std::vector<Field> fields;
  std::uint32_t size = 65536;     // max_elements; managed sets are created with it
  bool timeout = true;            // managed sets get the `timeout` flag (targets with ttl > 0)
  bool managed = false;           // create the table and set when missing
  bool flush_on_create = false;   // managed only: empty the set when attached
  bool flush_on_destroy = false;  // empty the set at clean shutdown (SetWriter::shutdown)
  friend bool operator==(const SetSpec&, const SetSpec&) = default;
};

}  // namespace ctlabeld::nftset
