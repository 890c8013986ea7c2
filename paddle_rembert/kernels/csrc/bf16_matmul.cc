// bf16 GEMMs for Paddle dygraph on CPU through the oneDNN that ships inside the Paddle wheel.
//
// Paddle 3.3's CPU build registers no bf16 `matmul` kernel for dygraph, so auto_cast(bfloat16)
// leaves every GEMM in fp32. This op takes fp32 (or bf16) operands, rounds them to bf16 and runs
// oneDNN's matmul (AMX / AVX512-BF16 brgemm) with fp32 accumulation and an fp32 result, so the
// rest of the model keeps its fp32 kernels.
//
// The wheel ships libdnnl.so.3 without its headers: dnnl_min.h declares the few C-API entry
// points used here (the oneDNN C ABI is stable across 3.x).
#include <cstring>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "dnnl_min.h"
#include "paddle/extension.h"

namespace {

void check(dnnl_status_t status, const char* what) {
  PD_CHECK(status == dnnl_success, "oneDNN ", what, " failed with status ", static_cast<int>(status));
}

dnnl_engine_t engine() {
  static dnnl_engine_t eng = [] {
    dnnl_engine_t e = nullptr;
    check(dnnl_engine_create(&e, dnnl_cpu, 0), "engine_create");
    return e;
  }();
  return eng;
}

dnnl_stream_t stream() {
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

std::mutex cache_mutex;
std::unordered_map<std::string, std::shared_ptr<Primitive>>& cache() {
  static auto* c = new std::unordered_map<std::string, std::shared_ptr<Primitive>>();
  return *c;
}

std::string describe(dnnl_primitive_desc_t pd) {
  const char* info = nullptr;
  if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &info) == dnnl_success && info) return info;
  return "?";
}

std::shared_ptr<Primitive> finish(dnnl_primitive_desc_t pd, std::shared_ptr<Primitive> p) {
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
    auto it = cache().find(key);
    if (it != cache().end()) return it->second;
  }
  auto p = build();  // built outside the lock; a racing duplicate is harmless
  std::lock_guard<std::mutex> lock(cache_mutex);
  return cache().emplace(key, p).first->second;
}

void append(std::ostringstream& os, const std::vector<int64_t>& v) {
  for (auto x : v) os << x << ',';
  os << ';';
}

dnnl_data_type_t dnnl_type(const paddle::Tensor& t) {
  if (t.dtype() == paddle::DataType::FLOAT32) return dnnl_f32;
  if (t.dtype() == paddle::DataType::BFLOAT16) return dnnl_bf16;
  PD_THROW("bf16 matmul: operands must be float32 or bfloat16");
}

void execute(const Primitive& p, std::vector<dnnl_exec_arg_t> args) {
  std::lock_guard<std::mutex> lock(p.exec_mutex);
  check(dnnl_primitive_execute(p.prim, stream(), static_cast<int>(args.size()), args.data()), "execute");
  check(dnnl_stream_wait(stream()), "stream_wait");
}

dnnl_memory_t memory(const Md& md, const void* data) {
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

// A logical view of a tensor operand: dims and element strides (transposed = last two swapped).
struct View {
  std::vector<int64_t> dims, strides;
};

View view_of(const paddle::Tensor& t, bool transposed) {
  View v;
  auto d = t.dims();
  auto s = t.strides();
  for (int i = 0; i < d.size(); ++i) {
    v.dims.push_back(d[i]);
    v.strides.push_back(s.size() == d.size() ? s[i] : 0);
  }
  if (s.size() != d.size() || t.is_contiguous()) {  // dense row-major
    int64_t acc = 1;
    for (int i = static_cast<int>(v.dims.size()) - 1; i >= 0; --i) v.strides[i] = acc, acc *= v.dims[i];
  }
  if (transposed) {
    size_t n = v.dims.size();
    std::swap(v.dims[n - 1], v.dims[n - 2]);
    std::swap(v.strides[n - 1], v.strides[n - 2]);
  }
  return v;
}

// Fold leading dims into the row dim when they are laid out as one (e.g. [B, L, K] -> [B*L, K]).
bool fold_rows(View& v) {
  size_t n = v.dims.size();
  if (n <= 2) return true;
  int64_t rows = v.dims[n - 2];
  for (size_t i = n - 2; i-- > 0;) {
    if (v.strides[i] != v.strides[i + 1] * v.dims[i + 1]) return false;
    rows *= v.dims[i];
  }
  v.dims = {rows, v.dims[n - 1]};
  v.strides = {v.strides[n - 2], v.strides[n - 1]};
  return true;
}

std::vector<int64_t> dense_strides(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size());
  int64_t acc = 1;
  for (int i = static_cast<int>(dims.size()) - 1; i >= 0; --i) s[i] = acc, acc *= dims[i];
  return s;
}

// fp32 -> bf16 copy with oneDNN's (threaded) reorder, into a dense buffer of the logical shape.
paddle::Tensor to_bf16(const paddle::Tensor& t, const View& v) {
  auto dense = dense_strides(v.dims);
  std::ostringstream key;
  key << "reorder;";
  append(key, v.dims);
  append(key, v.strides);
  auto p = cached(key.str(), [&] {
    auto p = std::make_shared<Primitive>();
    p->a.reset(new Md(v.dims, v.strides, dnnl_f32));
    p->c.reset(new Md(v.dims, dense, dnnl_bf16));
    dnnl_primitive_desc_t pd = nullptr;
    check(dnnl_reorder_primitive_desc_create(&pd, p->a->md, engine(), p->c->md, engine(), nullptr), "reorder_pd");
    return finish(pd, p);
  });
  auto out = paddle::empty(v.dims, paddle::DataType::BFLOAT16, paddle::CPUPlace());
  Memories mem;
  execute(*p, {{DNNL_ARG_FROM, mem.add(*p->a, t.data())}, {DNNL_ARG_TO, mem.add(*p->c, out.data())}});
  return out;
}

}  // namespace

// out[..., M, N] = alpha * (op(X) @ op(Y) (+ Bias[N])) (+ Add) in fp32, from bf16-rounded X and Y; Add
// broadcasts over size-1 dims (attention's [B, 1, 1, L] mask) and is added by the GEMM's epilogue.
// X [..., M, K] (or [..., K, M] with trans_x), Y [..., K, N] (or [..., N, K] with trans_y). A 2-D Y
// is shared by every row of X; otherwise the batch dims must match (size-1 dims of Y broadcast).
// mode 0: operands rounded to bf16 by a reorder (dense copies) first; 1: oneDNN's fpmath_mode
// bf16 on the fp32 operands (rounded inside the kernel).
std::vector<paddle::Tensor> Bf16Matmul(const paddle::Tensor& x, const paddle::Tensor& y,
                                       const paddle::optional<paddle::Tensor>& bias,
                                       const paddle::optional<paddle::Tensor>& add, bool trans_x, bool trans_y,
                                       int mode, float alpha) {
  PD_CHECK(x.is_cpu() && y.is_cpu(), "bf16 matmul runs on CPU tensors");
  PD_CHECK(x.dims().size() >= 2 && y.dims().size() >= 2, "bf16 matmul needs operands of rank >= 2");
  View a = view_of(x, trans_x), b = view_of(y, trans_y);
  std::vector<int64_t> out_dims = a.dims;  // [..., M, K] -> [..., M, N]
  out_dims.back() = b.dims.back();
  if (b.dims.size() == 2) {
    PD_CHECK(!trans_x || a.dims.size() == 2, "bf16 matmul: a transposed X needs a 2-D X");
    if (!fold_rows(a)) {
      // rows not foldable (a strided view): pad Y with broadcast batch dims instead
      while (b.dims.size() < a.dims.size()) b.dims.insert(b.dims.begin(), 1), b.strides.insert(b.strides.begin(), 0);
    }
  }
  PD_CHECK(a.dims.size() == b.dims.size(), "bf16 matmul: X and Y ranks differ");
  size_t n = a.dims.size();
  PD_CHECK(a.dims[n - 1] == b.dims[n - 2], "bf16 matmul: inner dims differ (", a.dims[n - 1], " vs ",
           b.dims[n - 2], ")");
  for (size_t i = 0; i + 2 < n; ++i) {
    PD_CHECK(b.dims[i] == a.dims[i] || b.dims[i] == 1, "bf16 matmul: batch dims differ");
    if (b.dims[i] == 1) b.strides[i] = 0;
  }
  std::vector<int64_t> c_dims = a.dims;
  c_dims[n - 1] = b.dims[n - 1];
  auto out = paddle::empty(out_dims, paddle::DataType::FLOAT32, paddle::CPUPlace());

  paddle::Tensor xa = x, yb = y;
  dnnl_data_type_t ta = dnnl_type(x), tb = dnnl_type(y);
  if (mode == 0) {
    if (ta == dnnl_f32) xa = to_bf16(x, a), a.strides = dense_strides(a.dims), ta = dnnl_bf16;
    if (tb == dnnl_f32) {
      View bb = b;
      for (size_t i = 0; i + 2 < n; ++i) bb.dims[i] = b.strides[i] == 0 ? 1 : b.dims[i];
      yb = to_bf16(y, bb);
      b.strides = dense_strides(bb.dims);
      for (size_t i = 0; i + 2 < n; ++i)
        if (bb.dims[i] == 1) b.strides[i] = 0;
      tb = dnnl_bf16;
    }
  }
  bool has_bias = bias.is_initialized();
  if (has_bias) {
    PD_CHECK(bias->dtype() == paddle::DataType::FLOAT32 && bias->numel() == c_dims[n - 1],
             "bf16 matmul: bias must be float32 [N]");
  }
  bool has_add = add.is_initialized();
  std::vector<int64_t> add_dims;
  if (has_add) {
    PD_CHECK(add->dtype() == paddle::DataType::FLOAT32 && add->is_contiguous() && add->is_cpu(),
             "bf16 matmul: Add must be a contiguous float32 CPU tensor");
    for (int i = 0; i < add->dims().size(); ++i) add_dims.push_back(add->dims()[i]);
    PD_CHECK(add_dims.size() <= n, "bf16 matmul: Add has a higher rank than the product");
    while (add_dims.size() < n) add_dims.insert(add_dims.begin(), 1);
    for (size_t i = 0; i < n; ++i)
      PD_CHECK(add_dims[i] == c_dims[i] || add_dims[i] == 1, "bf16 matmul: Add does not broadcast to the product");
  }
  std::ostringstream key;
  key << "matmul;" << ta << ';' << tb << ';' << has_bias << ';' << mode << ';' << alpha << ';' << has_add << ';';
  append(key, add_dims);
  append(key, a.dims);
  append(key, a.strides);
  append(key, b.dims);
  append(key, b.strides);
  auto p = cached(key.str(), [&] {
    auto p = std::make_shared<Primitive>();
    p->a.reset(new Md(a.dims, a.strides, ta));
    p->b.reset(new Md(b.dims, b.strides, tb));
    p->c.reset(new Md(c_dims, dense_strides(c_dims), dnnl_f32));
    if (has_bias) {
      std::vector<int64_t> bd(n, 1);
      bd[n - 1] = c_dims[n - 1];
      p->bias.reset(new Md(bd, dense_strides(bd), dnnl_f32));
    }
    dnnl_primitive_attr_t attr = nullptr;
    check(dnnl_primitive_attr_create(&attr), "attr_create");
    if (ta == dnnl_f32 || tb == dnnl_f32)
      check(dnnl_primitive_attr_set_fpmath_mode(attr, dnnl_fpmath_mode_bf16), "fpmath");
    if (alpha != 1.0f || has_add) {
      dnnl_post_ops_t po = nullptr;
      check(dnnl_post_ops_create(&po), "post_ops_create");
      if (alpha != 1.0f) check(dnnl_post_ops_append_eltwise(po, dnnl_eltwise_linear, alpha, 0.0f), "post_op scale");
      if (has_add) {
        p->add.reset(new Md(add_dims, dense_strides(add_dims), dnnl_f32));
        check(dnnl_post_ops_append_binary(po, dnnl_binary_add, p->add->md), "post_op add");
      }
      check(dnnl_primitive_attr_set_post_ops(attr, po), "set_post_ops");
      dnnl_post_ops_destroy(po);
    }
    dnnl_primitive_desc_t pd = nullptr;
    dnnl_status_t st = dnnl_matmul_primitive_desc_create(&pd, engine(), p->a->md, p->b->md,
                                                         has_bias ? p->bias->md : nullptr, p->c->md, attr);
    dnnl_primitive_attr_destroy(attr);
    check(st, "matmul_pd");
    return finish(pd, p);
  });
  Memories mem;
  std::vector<dnnl_exec_arg_t> args = {{DNNL_ARG_SRC, mem.add(*p->a, xa.data())},
                                       {DNNL_ARG_WEIGHTS, mem.add(*p->b, yb.data())},
                                       {DNNL_ARG_DST, mem.add(*p->c, out.data())}};
  if (has_bias) args.push_back({DNNL_ARG_BIAS, mem.add(*p->bias, bias->data())});
  if (has_add) {
    int index = alpha != 1.0f ? 1 : 0;  // the binary add follows the scale in the post-op chain
    args.push_back({DNNL_ARG_ATTR_MULTIPLE_POST_OP(index) | DNNL_ARG_SRC_1, mem.add(*p->add, add->data())});
  }
  execute(*p, args);
  return {out};
}

// Softmax over the last axis of a float32 tensor (oneDNN's jit kernel; Paddle's CPU softmax is
// ~5-10x slower on attention scores). Forward: Out = softmax(X); backward: DX from Y and DY.
namespace {
std::shared_ptr<Primitive> softmax_primitive(const std::vector<int64_t>& dims, bool backward) {
  std::ostringstream key;
  key << (backward ? "softmax_bwd;" : "softmax_fwd;");
  append(key, dims);
  return cached(key.str(), [&] {
    auto p = std::make_shared<Primitive>();
    auto strides = dense_strides(dims);
    p->a.reset(new Md(dims, strides, dnnl_f32));
    p->c.reset(new Md(dims, strides, dnnl_f32));
    int axis = static_cast<int>(dims.size()) - 1;
    dnnl_primitive_desc_t fwd = nullptr;
    check(dnnl_softmax_forward_primitive_desc_create(&fwd, engine(), dnnl_forward_training, dnnl_softmax_accurate,
                                                     p->a->md, p->c->md, axis, nullptr),
          "softmax_pd");
    if (!backward) return finish(fwd, p);
    p->b.reset(new Md(dims, strides, dnnl_f32));  // dst (y)
    dnnl_primitive_desc_t bwd = nullptr;
    dnnl_status_t st = dnnl_softmax_backward_primitive_desc_create(&bwd, engine(), dnnl_softmax_accurate, p->a->md,
                                                                  p->c->md, p->b->md, axis, fwd, nullptr);
    dnnl_primitive_desc_destroy(fwd);
    check(st, "softmax_bwd_pd");
    return finish(bwd, p);
  });
}

std::vector<int64_t> dims_of(const paddle::Tensor& t) {
  std::vector<int64_t> d;
  for (int i = 0; i < t.dims().size(); ++i) d.push_back(t.dims()[i]);
  return d;
}

void check_dense_f32(const paddle::Tensor& t, const char* name) {
  PD_CHECK(t.is_cpu() && t.dtype() == paddle::DataType::FLOAT32 && t.is_contiguous(),
           "softmax: ", name, " must be a contiguous float32 CPU tensor");
}
}  // namespace

std::vector<paddle::Tensor> Softmax(const paddle::Tensor& x) {
  check_dense_f32(x, "X");
  auto p = softmax_primitive(dims_of(x), false);
  auto out = paddle::empty(dims_of(x), paddle::DataType::FLOAT32, paddle::CPUPlace());
  Memories mem;
  execute(*p, {{DNNL_ARG_SRC, mem.add(*p->a, x.data())}, {DNNL_ARG_DST, mem.add(*p->c, out.data())}});
  return {out};
}

std::vector<paddle::Tensor> SoftmaxGrad(const paddle::Tensor& y, const paddle::Tensor& dy) {
  check_dense_f32(y, "Y");
  check_dense_f32(dy, "DY");
  PD_CHECK(dims_of(y) == dims_of(dy), "softmax grad: Y and DY shapes differ");
  auto p = softmax_primitive(dims_of(y), true);
  auto dx = paddle::empty(dims_of(y), paddle::DataType::FLOAT32, paddle::CPUPlace());
  Memories mem;
  execute(*p, {{DNNL_ARG_DST, mem.add(*p->b, y.data())}, {DNNL_ARG_DIFF_DST, mem.add(*p->c, dy.data())},
               {DNNL_ARG_DIFF_SRC, mem.add(*p->a, dx.data())}});
  return {dx};
}

// gelu (erf or tanh form) with oneDNN's eltwise kernels: Paddle's CPU gelu is the slowest op of a
// bf16 BERT layer. Forward Out = gelu(X); backward DX from X and DOut.
namespace {
std::shared_ptr<Primitive> gelu_primitive(const std::vector<int64_t>& dims, bool approximate, bool backward) {
  std::ostringstream key;
  key << (backward ? "gelu_bwd;" : "gelu_fwd;") << approximate << ';';
  append(key, dims);
  return cached(key.str(), [&] {
    auto p = std::make_shared<Primitive>();
    auto strides = dense_strides(dims);
    p->a.reset(new Md(dims, strides, dnnl_f32));
    p->c.reset(new Md(dims, strides, dnnl_f32));
    dnnl_alg_kind_t alg = approximate ? dnnl_eltwise_gelu_tanh : dnnl_eltwise_gelu_erf;
    dnnl_primitive_desc_t fwd = nullptr;
    check(dnnl_eltwise_forward_primitive_desc_create(&fwd, engine(), dnnl_forward_training, alg, p->a->md, p->c->md,
                                                     0.f, 0.f, nullptr),
          "gelu_pd");
    if (!backward) return finish(fwd, p);
    p->b.reset(new Md(dims, strides, dnnl_f32));  // data (x)
    dnnl_primitive_desc_t bwd = nullptr;
    dnnl_status_t st = dnnl_eltwise_backward_primitive_desc_create(&bwd, engine(), alg, p->a->md, p->c->md, p->b->md,
                                                                  0.f, 0.f, fwd, nullptr);
    dnnl_primitive_desc_destroy(fwd);
    check(st, "gelu_bwd_pd");
    return finish(bwd, p);
  });
}
}  // namespace

std::vector<paddle::Tensor> Gelu(const paddle::Tensor& x, bool approximate) {
  check_dense_f32(x, "X");
  auto p = gelu_primitive(dims_of(x), approximate, false);
  auto out = paddle::empty(dims_of(x), paddle::DataType::FLOAT32, paddle::CPUPlace());
  Memories mem;
  execute(*p, {{DNNL_ARG_SRC, mem.add(*p->a, x.data())}, {DNNL_ARG_DST, mem.add(*p->c, out.data())}});
  return {out};
}

std::vector<paddle::Tensor> GeluGrad(const paddle::Tensor& x, const paddle::Tensor& dout, bool approximate) {
  check_dense_f32(x, "X");
  check_dense_f32(dout, "DOut");
  PD_CHECK(dims_of(x) == dims_of(dout), "gelu grad: X and DOut shapes differ");
  auto p = gelu_primitive(dims_of(x), approximate, true);
  auto dx = paddle::empty(dims_of(x), paddle::DataType::FLOAT32, paddle::CPUPlace());
  Memories mem;
  execute(*p, {{DNNL_ARG_SRC, mem.add(*p->b, x.data())}, {DNNL_ARG_DIFF_DST, mem.add(*p->c, dout.data())},
               {DNNL_ARG_DIFF_SRC, mem.add(*p->a, dx.data())}});
  return {dx};
}

// LayerNorm over the last axis (oneDNN's kernels): Paddle's CPU layer_norm backward is the slowest op of a
// training step once the GEMMs run in bf16 (~16 ms per [1024, 768] call). Forward returns (Out, Mean, Var);
// backward returns (DX, DScale, DShift) from X, DOut, Mean, Var and the scale.
namespace {
std::shared_ptr<Primitive> layer_norm_primitive(const std::vector<int64_t>& dims, float eps, bool backward) {
  std::ostringstream key;
  key << (backward ? "ln_bwd;" : "ln_fwd;") << eps << ';';
  append(key, dims);
  return cached(key.str(), [&] {
    auto p = std::make_shared<Primitive>();
    auto strides = dense_strides(dims);
    std::vector<int64_t> stat(dims.begin(), dims.end() - 1);
    p->a.reset(new Md(dims, strides, dnnl_f32));  // src / diff_src
    p->c.reset(new Md(dims, strides, dnnl_f32));  // dst / diff_dst
    p->add.reset(new Md(stat, dense_strides(stat), dnnl_f32));  // mean and variance
    p->bias.reset(new Md({dims.back()}, {1}, dnnl_f32));  // scale / shift (and their grads)
    unsigned flags = dnnl_use_scale | dnnl_use_shift;
    dnnl_primitive_desc_t fwd = nullptr;
    check(dnnl_layer_normalization_forward_primitive_desc_create(&fwd, engine(), dnnl_forward_training, p->a->md,
                                                                 p->c->md, p->add->md, eps, flags, nullptr),
          "layer_norm_pd");
    if (!backward) return finish(fwd, p);
    p->b.reset(new Md(dims, strides, dnnl_f32));  // src for backward
    dnnl_primitive_desc_t bwd = nullptr;
    dnnl_status_t st = dnnl_layer_normalization_backward_primitive_desc_create(
        &bwd, engine(), dnnl_backward, p->a->md, p->c->md, p->b->md, p->add->md, eps, flags, fwd, nullptr);
    dnnl_primitive_desc_destroy(fwd);
    check(st, "layer_norm_bwd_pd");
    return finish(bwd, p);
  });
}
}  // namespace

std::vector<paddle::Tensor> LayerNorm(const paddle::Tensor& x, const paddle::Tensor& scale, const paddle::Tensor& shift,
                                      float eps) {
  check_dense_f32(x, "X");
  check_dense_f32(scale, "Scale");
  check_dense_f32(shift, "Shift");
  auto dims = dims_of(x);
  PD_CHECK(scale.numel() == dims.back() && shift.numel() == dims.back(), "layer_norm: scale/shift size");
  auto p = layer_norm_primitive(dims, eps, false);
  std::vector<int64_t> stat(dims.begin(), dims.end() - 1);
  auto out = paddle::empty(dims, paddle::DataType::FLOAT32, paddle::CPUPlace());
  auto mean = paddle::empty(stat, paddle::DataType::FLOAT32, paddle::CPUPlace());
  auto var = paddle::empty(stat, paddle::DataType::FLOAT32, paddle::CPUPlace());
  Memories mem;
  execute(*p, {{DNNL_ARG_SRC, mem.add(*p->a, x.data())}, {DNNL_ARG_DST, mem.add(*p->c, out.data())},
               {DNNL_ARG_MEAN, mem.add(*p->add, mean.data())}, {DNNL_ARG_VARIANCE, mem.add(*p->add, var.data())},
               {DNNL_ARG_SCALE, mem.add(*p->bias, scale.data())}, {DNNL_ARG_SHIFT, mem.add(*p->bias, shift.data())}});
  return {out, mean, var};
}

std::vector<paddle::Tensor> LayerNormGrad(const paddle::Tensor& x, const paddle::Tensor& dout,
                                          const paddle::Tensor& mean, const paddle::Tensor& var,
                                          const paddle::Tensor& scale, float eps) {
  check_dense_f32(x, "X");
  check_dense_f32(dout, "DOut");
  auto dims = dims_of(x);
  PD_CHECK(dims_of(dout) == dims, "layer_norm grad: X and DOut shapes differ");
  auto p = layer_norm_primitive(dims, eps, true);
  auto dx = paddle::empty(dims, paddle::DataType::FLOAT32, paddle::CPUPlace());
  auto dscale = paddle::empty({dims.back()}, paddle::DataType::FLOAT32, paddle::CPUPlace());
  auto dshift = paddle::empty({dims.back()}, paddle::DataType::FLOAT32, paddle::CPUPlace());
  auto shift = paddle::empty({dims.back()}, paddle::DataType::FLOAT32, paddle::CPUPlace());  // unused by the math
  Memories mem;
  execute(*p, {{DNNL_ARG_SRC, mem.add(*p->b, x.data())}, {DNNL_ARG_DIFF_DST, mem.add(*p->c, dout.data())},
               {DNNL_ARG_MEAN, mem.add(*p->add, mean.data())}, {DNNL_ARG_VARIANCE, mem.add(*p->add, var.data())},
               {DNNL_ARG_SCALE, mem.add(*p->bias, scale.data())}, {DNNL_ARG_SHIFT, mem.add(*p->bias, shift.data())},
               {DNNL_ARG_DIFF_SRC, mem.add(*p->a, dx.data())},
               {DNNL_ARG_DIFF_SCALE, mem.add(*p->bias, dscale.data())},
               {DNNL_ARG_DIFF_SHIFT, mem.add(*p->bias, dshift.data())}});
  return {dx, dscale, dshift};
}

// The oneDNN implementation chosen for the last-built matmul of each shape (for diagnostics).
std::vector<paddle::Tensor> Bf16MatmulImpls(const paddle::Tensor& x) {
  std::lock_guard<std::mutex> lock(cache_mutex);
  std::string all;
  for (auto& kv : cache()) all += kv.first + " => " + kv.second->impl + "\n";
  auto out = paddle::empty({static_cast<int64_t>(all.size())}, paddle::DataType::UINT8, paddle::CPUPlace());
  if (!all.empty()) std::memcpy(out.data(), all.data(), all.size());
  return {out};
}

PD_BUILD_OP(pr_bf16_matmul)
    .Inputs({"X", "Y", paddle::Optional("Bias"), paddle::Optional("Add")})
    .Outputs({"Out"})
    .Attrs({"trans_x: bool", "trans_y: bool", "mode: int", "alpha: float"})
    .SetKernelFn(PD_KERNEL(Bf16Matmul));

PD_BUILD_OP(pr_softmax).Inputs({"X"}).Outputs({"Out"}).SetKernelFn(PD_KERNEL(Softmax));

PD_BUILD_OP(pr_softmax_grad).Inputs({"Y", "DY"}).Outputs({"DX"}).SetKernelFn(PD_KERNEL(SoftmaxGrad));

PD_BUILD_OP(pr_gelu).Inputs({"X"}).Outputs({"Out"}).Attrs({"approximate: bool"}).SetKernelFn(PD_KERNEL(Gelu));

PD_BUILD_OP(pr_gelu_grad)
    .Inputs({"X", "DOut"})
    .Outputs({"DX"})
    .Attrs({"approximate: bool"})
    .SetKernelFn(PD_KERNEL(GeluGrad));

PD_BUILD_OP(pr_layer_norm)
    .Inputs({"X", "Scale", "Shift"})
    .Outputs({"Out", "Mean", "Var"})
    .Attrs({"epsilon: float"})
    .SetKernelFn(PD_KERNEL(LayerNorm));

PD_BUILD_OP(pr_layer_norm_grad)
    .Inputs({"X", "DOut", "Mean", "Var", "Scale"})
    .Outputs({"DX", "DScale", "DShift"})
    .Attrs({"epsilon: float"})
    .SetKernelFn(PD_KERNEL(LayerNormGrad));

PD_BUILD_OP(pr_bf16_matmul_impls).Inputs({"X"}).Outputs({"Out"}).SetKernelFn(PD_KERNEL(Bf16MatmulImpls));
