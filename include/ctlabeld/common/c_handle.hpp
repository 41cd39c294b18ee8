// SPDX-License-Identifier: GPL-3.0-or-later
// One deleter for every C handle: `CHandle<nftnl_set, nftnl_set_free>` owns a handle and frees
// it with the C library's own function.
#pragma once

#include <memory>

namespace ctlabeld {

template <auto Free>
struct FreeWith {
  template <typename T>
  void operator()(T* handle) const noexcept {
    (void)Free(handle);
  }
};

template <typename T, auto Free>
using CHandle = std::unique_ptr<T, FreeWith<Free>>;

}  // namespace ctlabeld
