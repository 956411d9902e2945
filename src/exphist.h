// Base-2 exponential histogram aggregation (OpenTelemetry data model, "Exponential Buckets"):
// bucket index i at scale s covers (2^(i/2^s), 2^((i+1)/2^s)]. At most kMaxSize buckets per sign;
// the scale starts at kMaxScale and goes down (merging neighbouring buckets) whenever a value would
// not fit. Not thread-safe: a series guards its state with its own lock.
#pragma once

#include <cstdint>
#include <vector>

#include "common.h"

namespace otb {

struct ExpBuckets {
  int32_t offset = 0;            // index of counts[0]
  std::vector<uint64_t> counts;  // empty = no buckets
};

class ExpHistogram {
 public:
  static constexpr int32_t kMaxScale = 20;
  static constexpr size_t kMaxSize = 160;

  // False (nothing recorded) for a non-finite value.
  bool record(double v);
  // Adds `o` into this histogram (both downscaled to the lower scale, further if needed).
  void merge(const ExpHistogram &o);
  void reset();
  bool empty() const { return count_ == 0; }

  // Writes the fields of an ExponentialHistogramDataPoint after the attributes and times:
  // count, sum, scale, zero_count, positive, negative, min, max.
  void encode_fields(Buf &b) const;

  // The bucket index of |v| (> 0) at `scale` (exposed for tests).
  static int32_t map_to_index(double v, int32_t scale);

  int32_t scale() const { return scale_; }
  uint64_t count() const { return count_; }
  const ExpBuckets &positive() const { return pos_; }
  const ExpBuckets &negative() const { return neg_; }
  uint64_t zero_count() const { return zero_; }

 private:
  void downscale(int32_t change);
  // Makes room for `index` in `b`, lowering the scale while the range would exceed kMaxSize.
  // Returns the index at the (possibly lower) scale.
  int32_t fit(ExpBuckets &b, int32_t index);

  int32_t scale_ = kMaxScale;
  uint64_t count_ = 0, zero_ = 0;
  double sum_ = 0, min_ = 0, max_ = 0;
  ExpBuckets pos_, neg_;
};

}  // namespace otb
