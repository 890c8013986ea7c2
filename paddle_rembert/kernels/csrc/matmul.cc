// bf16 GEMMs for Paddle dygraph on CPU through the oneDNN that ships inside the Paddle wheel.
//
// Paddle 3.3's CPU build registers no bf16 `matmul` kernel for dygraph, so auto_cast(bfloat16)
// leaves every GEMM in fp32. This op takes fp32 (or bf16) operands, rounds them to bf16 and runs
// oneDNN's matmul (AMX / AVX512-BF16 brgemm) with fp32 accumulation and an fp32 result, so the
// rest of the model keeps its fp32 kernels.
//
// The wheel ships libdnnl.so.3 without its headers: dnnl_min.h declares the few C-API entry
// points used here (the oneDNN C ABI is stable across 3.x).
#include "dnnl_util.h"

namespace {
using namespace pr;

dnnl_data_type_t dnnl_type(const paddle::Tensor& t) {
  if (t.dtype() == paddle::DataType::FLOAT32) return dnnl_f32;
  if (t.dtype() == paddle::DataType::BFLOAT16) return dnnl_bf16;
  PD_THROW("bf16 matmul: operands must be float32 or bfloat16");
}

// A logical view of a tensor operand: dims and element strides (transposed = last two swapped).
struct View {
  std::vector<int64_t> dims, strides;
};

// `spec` ([offset, rank, dims..., strides...], in elements) reads T as that strided view instead (Paddle
// hands custom operators contiguous tensors, so a view is passed as its base and a spec); *offset gets the
// view's first element.
View view_of(const paddle::Tensor& t, bool transposed, const std::vector<int64_t>& spec = {},
             int64_t* offset = nullptr) {
  View v;
  if (offset) *offset = 0;
  if (!spec.empty()) {
    PD_CHECK(spec.size() >= 2 && spec[1] >= 2 && spec.size() == static_cast<size_t>(2 + 2 * spec[1]),
             "bf16 matmul: a view spec is [offset, rank, dims..., strides...]");
    int64_t rank = spec[1], last = spec[0];
    for (int64_t i = 0; i < rank; ++i) {
      v.dims.push_back(spec[2 + i]);
      v.strides.push_back(spec[2 + rank + i]);
      PD_CHECK(v.dims.back() > 0 && v.strides.back() >= 0, "bf16 matmul: bad view spec");
      last += (v.dims.back() - 1) * v.strides.back();
    }
    PD_CHECK(spec[0] >= 0 && last < t.numel(), "bf16 matmul: the view spec reaches outside its tensor");
    if (offset) *offset = spec[0];
  } else {
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

// fp32 -> bf16 copy with oneDNN's (threaded) reorder, into a dense buffer of the logical shape.
paddle::Tensor to_bf16(const void* data, const View& v) {
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
  execute(*p, {{DNNL_ARG_FROM, mem.add(*p->a, data)}, {DNNL_ARG_TO, mem.add(*p->c, out.data())}});
  return out;
}
}  // namespace


// out[..., M, N] = act(alpha * (op(X) @ op(Y) (+ Bias[N]))) (+ Add), from bf16-rounded X and Y, accumulated
// in fp32; Add broadcasts over size-1 dims (attention's [B, 1, 1, L] mask, or a residual of the output's
// shape) and, like alpha and act (post: 0 none, 1 gelu erf, 2 gelu tanh), is applied by the GEMM's
// epilogue. Out is fp32, or bf16 with out_bf16 (for a next GEMM that would round it to bf16 anyway).
// x_view / y_view read X / Y as strided views (see view_of: attention's heads inside one q|k|v
// projection); out_heads writes a [B, H, M, N] product as [B, M, H*N] (the context, heads merged).
// X [..., M, K] (or [..., K, M] with trans_x), Y [..., K, N] (or [..., N, K] with trans_y). A 2-D Y
// is shared by every row of X; otherwise the batch dims must match (size-1 dims of Y broadcast).
// mode 0: operands rounded to bf16 by a reorder (dense copies) first; 1: oneDNN's fpmath_mode
// bf16 on the fp32 operands (rounded inside the kernel); 2: fp32 operands stay fp32 (int8 inference's
// attention: the same views and epilogues, fp32 math).
std::vector<paddle::Tensor> Bf16Matmul(const paddle::Tensor& x, const paddle::Tensor& y,
                                       const paddle::optional<paddle::Tensor>& bias,
                                       const paddle::optional<paddle::Tensor>& add, bool trans_x, bool trans_y,
                                       int mode, float alpha, int post, bool out_bf16,
                                       const std::vector<int64_t>& x_view, const std::vector<int64_t>& y_view,
                                       bool out_heads) {
  PD_CHECK(post >= 0 && post <= 2, "bf16 matmul: post must be 0 (none), 1 (gelu) or 2 (gelu tanh)");
  PD_CHECK(mode >= 0 && mode <= 2, "bf16 matmul: mode must be 0, 1 or 2");
  PD_CHECK(x.is_cpu() && y.is_cpu(), "bf16 matmul runs on CPU tensors");
  PD_CHECK(x.dims().size() >= 2 && y.dims().size() >= 2, "bf16 matmul needs operands of rank >= 2");
  int64_t x_off = 0, y_off = 0;
  View a = view_of(x, trans_x, x_view, &x_off), b = view_of(y, trans_y, y_view, &y_off);
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
  // K = 0 (an empty batch's weight gradient): the product is zero, but oneDNN skips an empty problem and
  // would leave the output unwritten, epilogue included. Run it with K = 1 on zero operands instead.
  paddle::Tensor zeros_x, zeros_y;
  const paddle::Tensor* xs = &x;
  const paddle::Tensor* ys = &y;
  if (a.dims[n - 1] == 0) {
    a.dims[n - 1] = 1, b.dims[n - 2] = 1;
    a.strides = dense_strides(a.dims), b.strides = dense_strides(b.dims);
    zeros_x = paddle::full(a.dims, 0.0, paddle::DataType::FLOAT32, paddle::CPUPlace());
    zeros_y = paddle::full(b.dims, 0.0, paddle::DataType::FLOAT32, paddle::CPUPlace());
    xs = &zeros_x, ys = &zeros_y, x_off = y_off = 0;
  }
  for (size_t i = 0; i + 2 < n; ++i) {
    PD_CHECK(b.dims[i] == a.dims[i] || b.dims[i] == 1, "bf16 matmul: batch dims differ");
    // a broadcast dim gets stride 0; not a size-1 dim of both (with a strided Y, oneDNN would fall back to
    // its reference kernel)
    if (b.dims[i] == 1 && a.dims[i] != 1) b.strides[i] = 0;
  }
  std::vector<int64_t> c_dims = a.dims;
  c_dims[n - 1] = b.dims[n - 1];
  std::vector<int64_t> c_strides = dense_strides(c_dims);
  if (out_heads) {  // [B, H, M, N] written into [B, M, H*N]
    PD_CHECK(n == 4, "bf16 matmul: out_heads needs a 4-D product");
    out_dims = {c_dims[0], c_dims[2], c_dims[1] * c_dims[3]};
    c_strides = {c_dims[2] * c_dims[1] * c_dims[3], c_dims[3], c_dims[1] * c_dims[3], 1};
  }
  auto out = paddle::empty(out_dims, out_bf16 ? paddle::DataType::BFLOAT16 : paddle::DataType::FLOAT32,
                           paddle::CPUPlace());
  dnnl_data_type_t tc = out_bf16 ? dnnl_bf16 : dnnl_f32;

  paddle::Tensor xa, yb;  // bf16 copies, when made
  dnnl_data_type_t ta = dnnl_type(*xs), tb = dnnl_type(*ys);
  const void* xp = static_cast<const char*>(xs->data()) + x_off * (ta == dnnl_f32 ? 4 : 2);
  const void* yp = static_cast<const char*>(ys->data()) + y_off * (tb == dnnl_f32 ? 4 : 2);
  if (mode == 0) {
    if (ta == dnnl_f32) xa = to_bf16(xp, a), xp = xa.data(), a.strides = dense_strides(a.dims), ta = dnnl_bf16;
    if (tb == dnnl_f32) {
      View bb = b;
      for (size_t i = 0; i + 2 < n; ++i) bb.dims[i] = b.strides[i] == 0 ? 1 : b.dims[i];
      yb = to_bf16(yp, bb);
      yp = yb.data();
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
    if (add_dims.size() > n && n == 2) {  // X's rows were folded ([B, L, K] -> [B*L, K]): fold Add's too
      int64_t rows = 1;
      for (size_t i = 0; i + 1 < add_dims.size(); ++i) rows *= add_dims[i];
      add_dims = {rows, add_dims.back()};
    }
    PD_CHECK(add_dims.size() <= n, "bf16 matmul: Add has a higher rank than the product");
    while (add_dims.size() < n) add_dims.insert(add_dims.begin(), 1);
    for (size_t i = 0; i < n; ++i)
      PD_CHECK(add_dims[i] == c_dims[i] || add_dims[i] == 1, "bf16 matmul: Add does not broadcast to the product");
  }
  std::ostringstream key;
  key << "matmul;" << ta << ';' << tb << ';' << tc << ';' << has_bias << ';' << mode << ';' << alpha << ';' << post
      << ';' << has_add << ';' << out_heads << ';';
  append(key, add_dims);
  append(key, a.dims);
  append(key, a.strides);
  append(key, b.dims);
  append(key, b.strides);
  auto p = cached(key.str(), [&] {
    auto p = std::make_shared<Primitive>();
    p->a.reset(new Md(a.dims, a.strides, ta));
    p->b.reset(new Md(b.dims, b.strides, tb));
    p->c.reset(new Md(c_dims, c_strides, tc));
    if (has_bias) {
      std::vector<int64_t> bd(n, 1);
      bd[n - 1] = c_dims[n - 1];
      p->bias.reset(new Md(bd, dense_strides(bd), dnnl_f32));
    }
    dnnl_primitive_attr_t attr = nullptr;
    check(dnnl_primitive_attr_create(&attr), "attr_create");
    if ((ta == dnnl_f32 || tb == dnnl_f32) && mode != 2)
      check(dnnl_primitive_attr_set_fpmath_mode(attr, dnnl_fpmath_mode_bf16), "fpmath");
    if (alpha != 1.0f || post != 0 || has_add) {
      dnnl_post_ops_t po = nullptr;
      check(dnnl_post_ops_create(&po), "post_ops_create");
      if (alpha != 1.0f) check(dnnl_post_ops_append_eltwise(po, dnnl_eltwise_linear, alpha, 0.0f), "post_op scale");
      if (post != 0)
        check(dnnl_post_ops_append_eltwise(po, post == 1 ? dnnl_eltwise_gelu_erf : dnnl_eltwise_gelu_tanh, 0.0f, 0.0f),
              "post_op gelu");
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
  std::vector<dnnl_exec_arg_t> args = {{DNNL_ARG_SRC, mem.add(*p->a, xp)},
                                       {DNNL_ARG_WEIGHTS, mem.add(*p->b, yp)},
                                       {DNNL_ARG_DST, mem.add(*p->c, out.data())}};
  if (has_bias) args.push_back({DNNL_ARG_BIAS, mem.add(*p->bias, bias->data())});
  if (has_add) {
    int index = (alpha != 1.0f) + (post != 0);  // the binary add follows the scale and act in the post-op chain
    args.push_back({DNNL_ARG_ATTR_MULTIPLE_POST_OP(index) | DNNL_ARG_SRC_1, mem.add(*p->add, add->data())});
  }
  execute(*p, args);
  return {out};
}

// X (float32, any strides) -> a dense bfloat16 copy (round to nearest even), with oneDNN's threaded reorder.
// transposed: a 2-D X [K, N] becomes a dense [N, K] copy (inference keeps weights so: oneDNN's AMX matmul
// runs 4-9% faster on a weight read transposed).
std::vector<paddle::Tensor> ToBf16(const paddle::Tensor& x, bool transposed) {
  PD_CHECK(x.is_cpu() && x.dtype() == paddle::DataType::FLOAT32, "to_bf16: X must be a float32 CPU tensor");
  PD_CHECK(!transposed || x.dims().size() == 2, "to_bf16: only a 2-D X can be transposed");
  return {to_bf16(x.data(), view_of(x, transposed))};
}

// The oneDNN implementation of each cached primitive, most recently used first (for diagnostics).
std::vector<paddle::Tensor> Bf16MatmulImpls(const paddle::Tensor& x) {
  std::lock_guard<std::mutex> lock(cache_mutex);
  std::string all;
  for (auto& kv : cache().order) all += kv.first + " => " + kv.second->impl + "\n";
  auto out = paddle::empty({static_cast<int64_t>(all.size())}, paddle::DataType::UINT8, paddle::CPUPlace());
  if (!all.empty()) std::memcpy(out.data(), all.data(), all.size());
  return {out};
}

PD_BUILD_OP(pr_bf16_matmul)
    .Inputs({"X", "Y", paddle::Optional("Bias"), paddle::Optional("Add")})
    .Outputs({"Out"})
    .Attrs({"trans_x: bool", "trans_y: bool", "mode: int", "alpha: float", "post: int", "out_bf16: bool",
            "x_view: std::vector<int64_t>", "y_view: std::vector<int64_t>", "out_heads: bool"})
    .SetKernelFn(PD_KERNEL(Bf16Matmul));

PD_BUILD_OP(pr_to_bf16).Inputs({"X"}).Outputs({"Out"}).Attrs({"transposed: bool"}).SetKernelFn(PD_KERNEL(ToBf16));

PD_BUILD_OP(pr_bf16_matmul_impls).Inputs({"X"}).Outputs({"Out"}).SetKernelFn(PD_KERNEL(Bf16MatmulImpls));
