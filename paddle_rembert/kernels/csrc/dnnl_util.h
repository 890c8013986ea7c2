// oneDNN plumbing shared by the operators: the engine, a stream per thread, memory descriptors and a
// bounded cache of built primitives keyed by shape.
#pragma once
#include <cstdlib>
#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "dnnl_min.h"
#include "paddle/extension.h"

namespace pr {
inline void check(dnnl_status_t status, const char* what) {
  PD_CHECK(status == dnnl_success, "oneDNN ", what, " failed with status ", static_cast<int>(status));
}

inline dnnl_engine_t engine() {
  static dnnl_engine_t eng = [] {
    dnnl_engine_t e = nullptr;
    check(dnnl_engine_create(&e, dnnl_cpu, 0), "engine_create");
    return e;
  }();
  return eng;
}

inline dnnl_stream_t stream() {
  // One in-order stream per thread: primitives are shared, streams are not.
  thread_local std::unique_ptr<dnnl_stream, dnnl_status_t (*)(dnnl_stream_t)> s(
      [] {
        dnnl_stream_t st = nullptr;
        check(dnnl_stream_create(&st, engine(), dnnl_stream_default_flags), "stream_create");
        return st;
      }(),
      dnnl_stream_destroy);
  return s.get();
}

struct Md {
  dnnl_memory_desc_t md = nullptr;
  Md() = default;
  Md(const std::vector<int64_t>& dims, const std::vector<int64_t>& strides, dnnl_data_type_t dt) {
    dnnl_dims_t d{}, s{};
    for (size_t i = 0; i < dims.size(); ++i) d[i] = dims[i], s[i] = strides[i];
    check(dnnl_memory_desc_create_with_strides(&md, static_cast<int>(dims.size()), d, dt, s), "memory_desc");
  }
  Md(const Md&) = delete;
  Md& operator=(const Md&) = delete;
  ~Md() {
    if (md) dnnl_memory_desc_destroy(md);
  }
};

struct Primitive {
  dnnl_primitive_t prim = nullptr;
  std::unique_ptr<Md> a, b, bias, c, add;  // matmul: src, weights, bias, dst, post-op addend; reorder: a -> c
  std::string impl;
  // oneDNN's library-managed scratchpad is shared by concurrent executions of one primitive unless
  // the library was built for concurrent execution, which Paddle's bundled one is not: one at a time.
  mutable std::mutex exec_mutex;
  ~Primitive() {
    if (prim) dnnl_primitive_destroy(prim);
  }
};

// The built primitives, least recently used first out: each holds JIT-compiled code (about 0.3-0.7 MB for
// a bf16 GEMM), and a server sees a new shape with every sequence length. The capacity is oneDNN's own
// knob, ONEDNN_PRIMITIVE_CACHE_CAPACITY (default 1024, as oneDNN's), read once; 0 keeps nothing.
struct PrimitiveCache {
  using Entry = std::pair<std::string, std::shared_ptr<Primitive>>;
  std::list<Entry> order;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index;
  size_t capacity = [] {
    const char* v = std::getenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY");
    char* end = nullptr;
    long n = v && *v ? std::strtol(v, &end, 10) : -1;
    return n >= 0 && end && *end == '\0' ? static_cast<size_t>(n) : size_t{1024};
  }();

  std::shared_ptr<Primitive> find(const std::string& key) {
    auto it = index.find(key);
    if (it == index.end()) return nullptr;
    order.splice(order.begin(), order, it->second);
    return it->second->second;
  }
  std::shared_ptr<Primitive> insert(const std::string& key, std::shared_ptr<Primitive> p) {
    if (auto hit = find(key)) return hit;  // a racing thread built it first
    if (capacity == 0) return p;
    order.emplace_front(key, std::move(p));
    index[key] = order.begin();
    while (order.size() > capacity) {  // callers keep their shared_ptr: an evicted primitive finishes its run
      index.erase(order.back().first);
      order.pop_back();
    }
    return order.front().second;
  }
};

inline std::mutex cache_mutex;
inline PrimitiveCache& cache() {
  static auto* c = new PrimitiveCache();
  return *c;
}

inline std::string describe(dnnl_primitive_desc_t pd) {
  const char* info = nullptr;
  if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &info) == dnnl_success && info) return info;
  return "?";
}

inline std::shared_ptr<Primitive> finish(dnnl_primitive_desc_t pd, std::shared_ptr<Primitive> p) {
  p->impl = describe(pd);
  dnnl_status_t st = dnnl_primitive_create(&p->prim, pd);
  dnnl_primitive_desc_destroy(pd);
  check(st, "primitive_create");
  return p;
}

template <typename Build>
std::shared_ptr<Primitive> cached(const std::string& key, Build build) {
  {
    std::lock_guard<std::mutex> lock(cache_mutex);
    if (auto hit = cache().find(key)) return hit;
  }
  auto p = build();  // built outside the lock; a racing duplicate is harmless
  std::lock_guard<std::mutex> lock(cache_mutex);
  return cache().insert(key, std::move(p));
}

inline void append(std::ostringstream& os, const std::vector<int64_t>& v) {
  for (auto x : v) os << x << ',';
  os << ';';
}

inline void execute(const Primitive& p, std::vector<dnnl_exec_arg_t> args) {
  std::lock_guard<std::mutex> lock(p.exec_mutex);
  check(dnnl_primitive_execute(p.prim, stream(), static_cast<int>(args.size()), args.data()), "execute");
  check(dnnl_stream_wait(stream()), "stream_wait");
}

inline dnnl_memory_t memory(const Md& md, const void* data) {
  dnnl_memory_t m = nullptr;
  check(dnnl_memory_create(&m, md.md, engine(), const_cast<void*>(data)), "memory_create");
  return m;
}

struct Memories {
  std::vector<dnnl_memory_t> ms;
  dnnl_memory_t add(const Md& md, const void* data) {
    ms.push_back(memory(md, data));
    return ms.back();
  }
  ~Memories() {
    for (auto m : ms) dnnl_memory_destroy(m);
  }
};

inline std::vector<int64_t> dense_strides(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size());
  int64_t acc = 1;
  for (int i = static_cast<int>(dims.size()) - 1; i >= 0; --i) s[i] = acc, acc *= dims[i];
  return s;
}

inline std::vector<int64_t> dims_of(const paddle::Tensor& t) {
  std::vector<int64_t> d;
  for (int i = 0; i < t.dims().size(); ++i) d.push_back(t.dims()[i]);
  return d;
}

inline void check_dense_f32(const paddle::Tensor& t, const char* name) {
  PD_CHECK(t.is_cpu() && t.dtype() == paddle::DataType::FLOAT32 && t.is_contiguous(),
           "paddle_rembert kernels: ", name, " must be a contiguous float32 CPU tensor");
}

}  // namespace pr
