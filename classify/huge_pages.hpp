// SPDX-License-Identifier: GPL-3.0-or-later
// Large, lazily-zeroed allocations backed by transparent huge pages where the kernel allows it:
// the flow tables grow by tens of MB, and on virtual machines each 4 KiB page fault costs
// microseconds, so one 2 MiB fault instead of 512 is a measurable share of a -r run.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <memory>

// LeakSanitizer does not look inside anonymous mappings: registered, the flow records' pointers
// (hostnames, nDPI state) count as reachable, so a leak check during a run flags no live flow.
#if defined(__SANITIZE_ADDRESS__)
#define CTLABELD_LSAN_ROOTS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CTLABELD_LSAN_ROOTS 1
#endif
#endif
#ifdef CTLABELD_LSAN_ROOTS
#include <sanitizer/lsan_interface.h>
#endif

namespace ctlabeld::classify {

inline constexpr std::size_t kHugePage = std::size_t{2} << 20;

// An anonymous mapping whose usable part starts on a 2 MiB boundary. Pages are zero and
// become resident only when touched (a huge page at a time when THP is enabled or madvise).
class HugeRegion {
 public:
  HugeRegion() = default;
  explicit HugeRegion(std::size_t bytes) {
    const std::size_t want = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    const std::size_t mapped = want + kHugePage;  // room to align the start
    void* p = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;
    base_ = p;
    mapped_ = mapped;
    const auto addr = reinterpret_cast<std::uintptr_t>(p);
    data_ = reinterpret_cast<std::byte*>((addr + kHugePage - 1) & ~(std::uintptr_t{kHugePage} - 1));
    size_ = want;
    // Advice only: without THP the region still works with 4 KiB pages.
    (void)::madvise(data_, size_, MADV_HUGEPAGE);
#ifdef CTLABELD_LSAN_ROOTS
    __lsan_register_root_region(data_, size_);
#endif
  }
  ~HugeRegion() {
    if (base_ == nullptr) return;
#ifdef CTLABELD_LSAN_ROOTS
    __lsan_unregister_root_region(data_, size_);
#endif
    ::munmap(base_, mapped_);
  }
  HugeRegion(HugeRegion&& other) noexcept { swap(other); }
  HugeRegion& operator=(HugeRegion&& other) noexcept {
    HugeRegion tmp(std::move(other));
    swap(tmp);
    return *this;
  }
  HugeRegion(const HugeRegion&) = delete;
  HugeRegion& operator=(const HugeRegion&) = delete;

  [[nodiscard]] std::byte* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] explicit operator bool() const noexcept { return data_ != nullptr; }

 private:
  void swap(HugeRegion& o) noexcept {
    std::swap(base_, o.base_);
    std::swap(mapped_, o.mapped_);
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
  }
  void* base_ = nullptr;
  std::size_t mapped_ = 0;
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace ctlabeld::classify
