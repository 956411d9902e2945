#include "exphist.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "encode.h"

namespace otb {
namespace {

inline uint32_t zigzag(int32_t v) {
  return (static_cast<uint32_t>(v) << 1) ^ static_cast<uint32_t>(v >> 31);
}

void downscale_buckets(ExpBuckets &b, int32_t change) {
  if (change <= 0 || b.counts.empty()) return;
  int32_t new_offset = b.offset >> change;  // arithmetic shift: floor division by 2^change
  int32_t last = (b.offset + static_cast<int32_t>(b.counts.size()) - 1) >> change;
  std::vector<uint64_t> merged(static_cast<size_t>(last - new_offset + 1), 0);
  for (size_t i = 0; i < b.counts.size(); i++)
    merged[static_cast<size_t>(((b.offset + static_cast<int32_t>(i)) >> change) - new_offset)] +=
        b.counts[i];
  b.offset = new_offset;
  b.counts.swap(merged);
}

// The scale change needed so that indices lo..hi (at the current scale) fit kMaxSize buckets.
int32_t change_for(int64_t lo, int64_t hi) {
  int32_t change = 0;
  while (hi - lo + 1 > static_cast<int64_t>(ExpHistogram::kMaxSize)) {
    lo >>= 1;
    hi >>= 1;
    change++;
  }
  return change;
}

void put_buckets(Buf &b, uint32_t field, const ExpBuckets &bk) {
  if (bk.counts.empty()) return;
  size_t m = msg_begin(b, field);
  // offset is sint32 (zigzag)
  put_tag(b, 1, kVarint);
  put_varint(b, zigzag(bk.offset));
  size_t packed = 0;
  for (uint64_t c : bk.counts) packed += varint_size(c);
  put_tag(b, 2, kLen);
  put_varint(b, packed);
  for (uint64_t c : bk.counts) put_varint(b, c);
  msg_end(b, m);
}

}  // namespace

int32_t ExpHistogram::map_to_index(double v, int32_t scale) {
  int exp;
  double frac = std::frexp(v, &exp);  // v = frac * 2^exp, frac in [0.5, 1)
  if (scale <= 0) {
    // The unbiased exponent, one less for exact powers of two (their bucket ends there).
    int32_t e = exp - 1 - (frac == 0.5 ? 1 : 0);
    return e >> -scale;
  }
  if (frac == 0.5) return (exp - 1) * (int32_t{1} << scale) - 1;  // exact powers of two
  double scale_factor = std::ldexp(1.0 / std::log(2.0), scale);
  return static_cast<int32_t>(std::floor(std::log(v) * scale_factor));
}

int32_t ExpHistogram::fit(ExpBuckets &b, int32_t index) {
  if (b.counts.empty()) {
    b.offset = index;
    b.counts.assign(1, 0);
    return index;
  }
  int64_t lo = std::min<int64_t>(b.offset, index);
  int64_t hi = std::max<int64_t>(b.offset + static_cast<int64_t>(b.counts.size()) - 1, index);
  int32_t change = change_for(lo, hi);
  if (change) {
    downscale(change);
    index >>= change;
  }
  if (index < b.offset) {
    b.counts.insert(b.counts.begin(), static_cast<size_t>(b.offset - index), 0);
    b.offset = index;
  } else if (index >= b.offset + static_cast<int32_t>(b.counts.size())) {
    b.counts.resize(static_cast<size_t>(index - b.offset + 1), 0);
  }
  return index;
}

void ExpHistogram::downscale(int32_t change) {
  if (change <= 0) return;
  downscale_buckets(pos_, change);
  downscale_buckets(neg_, change);
  scale_ -= change;
}

bool ExpHistogram::record(double v) {
  if (!std::isfinite(v)) return false;
  if (count_ == 0) {
    min_ = max_ = v;
  } else {
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
  }
  count_++;
  sum_ += v;
  if (v == 0) {
    zero_++;
    return true;
  }
  ExpBuckets &b = v > 0 ? pos_ : neg_;
  int32_t idx = fit(b, map_to_index(std::fabs(v), scale_));
  b.counts[static_cast<size_t>(idx - b.offset)]++;
  return true;
}

void ExpHistogram::merge(const ExpHistogram &o) {
  if (o.count_ == 0) return;
  ExpHistogram src = o;
  // A common scale, then lower while either sign's combined range would not fit.
  int32_t target = std::min(scale_, src.scale_);
  if (count_ == 0) target = src.scale_;
  downscale(scale_ - target);
  src.downscale(src.scale_ - target);
  auto range_change = [](const ExpBuckets &a, const ExpBuckets &b) {
    if (a.counts.empty() || b.counts.empty()) return 0;
    int64_t lo = std::min(a.offset, b.offset);
    int64_t hi = std::max<int64_t>(a.offset + static_cast<int64_t>(a.counts.size()) - 1,
                                   b.offset + static_cast<int64_t>(b.counts.size()) - 1);
    return change_for(lo, hi);
  };
  int32_t change = std::max(range_change(pos_, src.pos_), range_change(neg_, src.neg_));
  downscale(change);
  src.downscale(change);
  auto add = [](ExpBuckets &dst, const ExpBuckets &s) {
    if (s.counts.empty()) return;
    if (dst.counts.empty()) {
      dst = s;
      return;
    }
    int32_t lo = std::min(dst.offset, s.offset);
    int32_t hi = std::max(dst.offset + static_cast<int32_t>(dst.counts.size()) - 1,
                          s.offset + static_cast<int32_t>(s.counts.size()) - 1);
    std::vector<uint64_t> out(static_cast<size_t>(hi - lo + 1), 0);
    for (size_t i = 0; i < dst.counts.size(); i++) out[dst.offset - lo + i] += dst.counts[i];
    for (size_t i = 0; i < s.counts.size(); i++) out[s.offset - lo + i] += s.counts[i];
    dst.offset = lo;
    dst.counts.swap(out);
  };
  add(pos_, src.pos_);
  add(neg_, src.neg_);
  if (count_ == 0) {
    min_ = src.min_;
    max_ = src.max_;
  } else {
    min_ = std::min(min_, src.min_);
    max_ = std::max(max_, src.max_);
  }
  count_ += src.count_;
  zero_ += src.zero_;
  sum_ += src.sum_;
}

void ExpHistogram::reset() {
  scale_ = kMaxScale;
  count_ = zero_ = 0;
  sum_ = min_ = max_ = 0;
  pos_ = ExpBuckets();
  neg_ = ExpBuckets();
}

void ExpHistogram::encode_fields(Buf &b) const {
  put_fixed64(b, 4, count_);
  put_double(b, 5, sum_);
  put_tag(b, 6, kVarint);  // scale: sint32 (zigzag)
  put_varint(b, zigzag(scale_));
  put_fixed64(b, 7, zero_);
  put_buckets(b, 8, pos_);
  put_buckets(b, 9, neg_);
  put_double(b, 12, min_);
  put_double(b, 13, max_);
}

}  // namespace otb
