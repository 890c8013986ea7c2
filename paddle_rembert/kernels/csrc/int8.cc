// int8 Linear for inference: activations quantized per token (asymmetric, uint8), weights per output
// channel (symmetric, int8), one u8 x s8 -> s32 oneDNN GEMM (VNNI brgemm), fp32 out.
//
// Why per token: onnxruntime's dynamic quantization takes one activation range per call, over the
// whole padded batch; a few wide channels then cost all other tokens their resolution, and the real
// all-MiniLM-L6-v2 similarities move by 0.011-0.016. One range per row moves them by about 0.004.
// oneDNN 3.6 takes no per-row source scales or zero points in matmul, so the rows are quantized here
// and the result is corrected after the GEMM, which is exact:
//   x_ik ~ s_i (q_ik - z_i),  w_kj ~ w_j v_kj  =>  y_ij = s_i w_j C_ij - s_i z_i (w_j sum_k v_kj) + b_j
// with C = Q V in int32; the GEMM applies w_j itself. W_COLSUM holds w_j sum_k v_kj.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "dnnl_util.h"

using namespace pr;

namespace {
// A row's range, 0 included (so zero is exactly representable, as in ONNX's DynamicQuantizeLinear), and
// whether the row is finite (any inf or nan makes v * 0 a nan, which the sum keeps).
__attribute__((target("avx512f"))) bool range_avx512(const float* r, int64_t k, float* lo, float* hi) {
  __m512 vlo = _mm512_setzero_ps(), vhi = _mm512_setzero_ps(), bad = _mm512_setzero_ps();
  const __m512 zero = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) {
    __m512 v = _mm512_loadu_ps(r + i);
    vlo = _mm512_min_ps(vlo, v);
    vhi = _mm512_max_ps(vhi, v);
    bad = _mm512_add_ps(bad, _mm512_mul_ps(v, zero));
  }
  if (i < k) {  // masked-off lanes read as 0, inside the range already
    __m512 v = _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << (k - i)) - 1), r + i);
    vlo = _mm512_min_ps(vlo, v);
    vhi = _mm512_max_ps(vhi, v);
    bad = _mm512_add_ps(bad, _mm512_mul_ps(v, zero));
  }
  *lo = _mm512_reduce_min_ps(vlo);
  *hi = _mm512_reduce_max_ps(vhi);
  return _mm512_reduce_add_ps(bad) == 0.f;
}

// q = saturate_u8(round_half_even(x / s) + z), as ONNX's QuantizeLinear.
__attribute__((target("avx512f"))) void quantize_avx512(const float* r, int64_t k, float inv, float z,
                                                         uint8_t* q) {
  const __m512 vinv = _mm512_set1_ps(inv), vz = _mm512_set1_ps(z), zero = _mm512_setzero_ps(),
               top = _mm512_set1_ps(255.f);
  int64_t i = 0;
  for (; i < k; i += 16) {
    const __mmask16 m = k - i >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (k - i)) - 1);
    __m512 v = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, r + i), vinv),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    v = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(v, vz), zero), top);
    _mm512_mask_cvtusepi32_storeu_epi8(q + i, m, _mm512_cvtps_epu32(v));
  }
}

bool range_scalar(const float* r, int64_t k, float* lo, float* hi) {
  float a = 0.f, b = 0.f;
  bool finite = true;
  for (int64_t i = 0; i < k; ++i) a = std::min(a, r[i]), b = std::max(b, r[i]), finite = finite && std::isfinite(r[i]);
  *lo = a, *hi = b;
  return finite;
}

void quantize_scalar(const float* r, int64_t k, float inv, float z, uint8_t* q) {
  for (int64_t i = 0; i < k; ++i)
    q[i] = static_cast<uint8_t>(std::min(255.f, std::max(0.f, std::nearbyint(r[i] * inv) + z)));
}

const bool kAvx512 = __builtin_cpu_supports("avx512f");

// Each row of X [M, K] to uint8 with its own scale and zero point (ONNX's formula for one row). A row holding
// an inf or a nan gets scale nan, so its whole output row is nan, as an fp32 product would be poisoned.
void quantize_rows(const float* x, int64_t m, int64_t k, uint8_t* q, float* scale, float* zero_point) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < m; ++i) {
    const float* r = x + i * k;
    float lo, hi;
    const bool finite = kAvx512 ? range_avx512(r, k, &lo, &hi) : range_scalar(r, k, &lo, &hi);
    if (!finite) {
      std::memset(q + i * k, 0, static_cast<size_t>(k));
      scale[i] = std::numeric_limits<float>::quiet_NaN();
      zero_point[i] = 0.f;
      continue;
    }
    float s = (hi - lo) / 255.f;
    if (!std::isfinite(s)) s = hi / 255.f - lo / 255.f;  // hi - lo overflowed (values near the float maximum)
    if (!(s > 0.f)) s = 1.f;                            // an all-zero row
    const float z = std::min(255.f, std::max(0.f, std::nearbyint(-lo / s)));
    kAvx512 ? quantize_avx512(r, k, 1.f / s, z, q + i * k) : quantize_scalar(r, k, 1.f / s, z, q + i * k);
    scale[i] = s;
    zero_point[i] = z;
  }
}

// y <- s y - s z w_colsum_j (+ b_j) (+ add_ij), where the GEMM wrote y = w_j C_ij: the correction, the bias
// and a residual in one pass over the (still cached) output.
__attribute__((target_clones("avx512f", "avx2", "default")))
void correct_row(float* y, float s, float sz, const float* w_colsum, const float* bias, const float* add,
                 int64_t n) {
  for (int64_t j = 0; j < n; ++j)
    y[j] = s * y[j] - sz * w_colsum[j] + (bias ? bias[j] : 0.f) + (add ? add[j] : 0.f);
}

// The quantized rows: a buffer per calling thread that only grows (up to 16 MiB, BERT-base's FFN input at
// batch 8 and length 512), so that no call pays for fresh pages; larger ones go to `spill`, freed after the call.
uint8_t* row_buffer(size_t bytes, std::vector<uint8_t>& spill) {
  constexpr size_t kKeep = size_t{16} << 20;
  thread_local std::vector<uint8_t> buffer;
  std::vector<uint8_t>& use = bytes <= kKeep ? buffer : spill;
  if (use.size() < bytes) use.resize(bytes);
  return use.data();
}
}  // namespace

// Y [..., N] = X [..., K] @ dequant(W [K, N]) + Bias + Add, X quantized per row (see the top of this file).
// Add (a residual) has Y's shape.
std::vector<paddle::Tensor> Int8Linear(const paddle::Tensor& x, const paddle::Tensor& w, const paddle::Tensor& w_scale,
                                       const paddle::Tensor& w_colsum, const paddle::optional<paddle::Tensor>& bias,
                                       const paddle::optional<paddle::Tensor>& add) {
  check_dense_f32(x, "int8 linear: X");
  PD_CHECK(w.is_cpu() && w.dtype() == paddle::DataType::INT8 && w.is_contiguous() && w.dims().size() == 2,
           "int8 linear: W must be a contiguous 2-D int8 CPU tensor");
  const int64_t k = w.dims()[0], n = w.dims()[1];
  auto x_dims = dims_of(x);
  PD_CHECK(!x_dims.empty() && x_dims.back() == k, "int8 linear: X's last dim is not W's ", k, " rows");
  check_dense_f32(w_scale, "int8 linear: W_SCALE");
  check_dense_f32(w_colsum, "int8 linear: W_COLSUM");
  PD_CHECK(w_scale.numel() == n && w_colsum.numel() == n, "int8 linear: W_SCALE and W_COLSUM need ", n, " values");
  const float* b = nullptr;
  if (bias) {
    check_dense_f32(*bias, "int8 linear: Bias");
    PD_CHECK(bias->numel() == n, "int8 linear: Bias needs ", n, " values");
    b = bias->data<float>();
  }
  auto y_dims = x_dims;
  y_dims.back() = n;
  const float* ad = nullptr;
  if (add) {
    check_dense_f32(*add, "int8 linear: Add");
    PD_CHECK(dims_of(*add) == y_dims, "int8 linear: Add must have the output's shape");
    ad = add->data<float>();
  }
  auto y = paddle::empty(y_dims, paddle::DataType::FLOAT32, paddle::CPUPlace());
  const int64_t m = x.numel() / k;
  if (m == 0 || n == 0) return {y};
  if (k == 0) {  // an empty sum: the bias alone
    float* out = y.data<float>();
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) out[i * n + j] = (b ? b[j] : 0.f) + (ad ? ad[i * n + j] : 0.f);
    return {y};
  }
  std::vector<uint8_t> spill;
  uint8_t* q = row_buffer(static_cast<size_t>(m * k), spill);
  std::vector<float> s(m), z(m);
  quantize_rows(x.data<float>(), m, k, q, s.data(), z.data());

  std::ostringstream key;
  key << "int8_matmul;" << m << ';' << k << ';' << n << ';';
  auto p = cached(key.str(), [&] {
    auto p = std::make_shared<Primitive>();
    p->a.reset(new Md({m, k}, {k, 1}, dnnl_u8));
    p->b.reset(new Md({k, n}, {n, 1}, dnnl_s8));  // plain weights: measured no slower than a packed copy
    p->c.reset(new Md({m, n}, {n, 1}, dnnl_f32));
    p->bias.reset(new Md({n}, {1}, dnnl_f32));  // here: the weights' scales, one per output column
    dnnl_primitive_attr_t attr = nullptr;
    check(dnnl_primitive_attr_create(&attr), "attr_create");
    check(dnnl_primitive_attr_set_scales_mask(attr, DNNL_ARG_WEIGHTS, 1 << 1), "int8 weight scales");
    dnnl_primitive_desc_t pd = nullptr;
    dnnl_status_t st = dnnl_matmul_primitive_desc_create(&pd, engine(), p->a->md, p->b->md, nullptr, p->c->md, attr);
    dnnl_primitive_attr_destroy(attr);
    check(st, "int8 matmul_pd");
    return finish(pd, p);
  });
  float* out = y.data<float>();
  {
    Memories mem;
    execute(*p, {{DNNL_ARG_SRC, mem.add(*p->a, q)},
                 {DNNL_ARG_WEIGHTS, mem.add(*p->b, w.data())},
                 {DNNL_ARG_DST, mem.add(*p->c, out)},
                 {DNNL_ARG_ATTR_SCALES | DNNL_ARG_WEIGHTS, mem.add(*p->bias, w_scale.data())}});
  }
  const float* wc = w_colsum.data<float>();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < m; ++i) correct_row(out + i * n, s[i], s[i] * z[i], wc, b, ad ? ad + i * n : nullptr, n);
  return {y};
}

PD_BUILD_OP(pr_int8_linear)
    .Inputs({"X", "W", "W_SCALE", "W_COLSUM", paddle::Optional("Bias"), paddle::Optional("Add")})
    .Outputs({"Out"})
    .SetKernelFn(PD_KERNEL(Int8Linear));
