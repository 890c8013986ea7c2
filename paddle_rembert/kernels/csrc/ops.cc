// fp32 operators with oneDNN's kernels (softmax, gelu, LayerNorm: forward and backward) and a
// threaded dropout. Paddle 3.3's CPU kernels for these are single-threaded or unvectorised and
// cost as much as the GEMMs of a BERT training step; these are several times faster.
#include <algorithm>
#include <cstdint>

#include "dnnl_util.h"

using namespace pr;

// Softmax over the last axis of a float32 tensor (oneDNN's jit kernel; Paddle's CPU softmax is
// ~5-10x slower on attention scores). Forward: Out = softmax(X); backward: DX from Y and DY.
namespace {
std::shared_ptr<Primitive> softmax_primitive(const std::vector<int64_t>& dims, bool backward, bool out_bf16 = false) {
  std::ostringstream key;
  key << (backward ? "softmax_bwd;" : "softmax_fwd;") << out_bf16 << ';';
  append(key, dims);
  return cached(key.str(), [&] {
    auto p = std::make_shared<Primitive>();
    auto strides = dense_strides(dims);
    p->a.reset(new Md(dims, strides, dnnl_f32));
    p->c.reset(new Md(dims, strides, out_bf16 ? dnnl_bf16 : dnnl_f32));
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


}  // namespace

// out_bf16: the probabilities in bf16, for bf16 inference whose next GEMM would round them anyway.
std::vector<paddle::Tensor> Softmax(const paddle::Tensor& x, bool out_bf16) {
  check_dense_f32(x, "X");
  auto p = softmax_primitive(dims_of(x), false, out_bf16);
  auto out = paddle::empty(dims_of(x), out_bf16 ? paddle::DataType::BFLOAT16 : paddle::DataType::FLOAT32,
                           paddle::CPUPlace());
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

// Dropout: Paddle's CPU kernel draws each element from a std::mt19937 on one thread (~15 ms for a
// BERT-base attention-probability tensor at batch 8). Here the keep/drop decision of element j of
// block b is a counter-based hash -- murmur3's 32-bit finaliser of j mixed with a per-block key
// that splitmix64 derives from (seed, b) -- compared with p * 2^24. Blocks split over threads, the
// loops vectorise (compiled for AVX-512, AVX2 and a baseline, picked at load time), and the mask
// depends only on the seed, never on the thread count. The seed comes from Paddle's generator
// (kernels/ops.py), so paddle.seed() reproduces the masks.
namespace {
inline uint64_t splitmix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

constexpr int64_t kBlock = 1 << 14;  // elements per task

// f(block, begin, length) for each kBlock-sized block of n elements, blocks split over threads.
template <typename F>
void for_each_block(int64_t n, F f) {
#pragma omp parallel for schedule(static)
  for (int64_t block = 0; block < (n + kBlock - 1) / kBlock; ++block) {
    const int64_t begin = block * kBlock;
    f(block, begin, std::min(n - begin, kBlock));
  }
}

void check_p(float p) { PD_CHECK(p >= 0.f && p < 1.f, "dropout: p must be in [0, 1), got ", p); }

__attribute__((target_clones("avx512f", "avx2", "default")))
void dropout_block(const float* x, float* y, uint8_t* mask, int64_t n, uint64_t key, uint32_t threshold,
                   float scale) {
  const uint32_t lo = static_cast<uint32_t>(key), hi = static_cast<uint32_t>(key >> 32);
  for (int64_t j = 0; j < n; ++j) {
    uint32_t h = lo ^ (static_cast<uint32_t>(j) * 0x9E3779B9U + hi);
    h ^= h >> 16;
    h *= 0x85EBCA6BU;
    h ^= h >> 13;
    h *= 0xC2B2AE35U;
    h ^= h >> 16;
    const bool keep = (h >> 8) >= threshold;
    mask[j] = keep;
    y[j] = keep ? x[j] * scale : 0.f;
  }
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void dropout_grad_block(const float* dy, const uint8_t* mask, float* dx, int64_t n, float scale) {
  for (int64_t j = 0; j < n; ++j) dx[j] = mask[j] ? dy[j] * scale : 0.f;
}
}  // namespace

// Out = X * Mask / (1 - p), Mask[i] = 1 with probability 1 - p (uint8).
std::vector<paddle::Tensor> Dropout(const paddle::Tensor& x, float p, int64_t seed) {
  check_dense_f32(x, "X");
  check_p(p);
  auto out = paddle::empty(dims_of(x), paddle::DataType::FLOAT32, paddle::CPUPlace());
  auto mask = paddle::empty(dims_of(x), paddle::DataType::UINT8, paddle::CPUPlace());
  const float* xs = x.data<float>();
  float* ys = out.data<float>();
  uint8_t* ms = mask.data<uint8_t>();
  const int64_t n = x.numel();
  // keep when the hash's top 24 bits u satisfy u >= p * 2^24 (P(keep) = 1 - p up to 2^-24)
  const uint32_t threshold = static_cast<uint32_t>(static_cast<double>(p) * 16777216.0 + 0.5);
  const float scale = 1.f / (1.f - p);
  const uint64_t key = splitmix64(static_cast<uint64_t>(seed));
  for_each_block(n, [&](int64_t block, int64_t begin, int64_t len) {
    dropout_block(xs + begin, ys + begin, ms + begin, len, splitmix64(key ^ static_cast<uint64_t>(block)),
                  threshold, scale);
  });
  return {out, mask};
}

// DX = DOut * Mask / (1 - p).
std::vector<paddle::Tensor> DropoutGrad(const paddle::Tensor& dout, const paddle::Tensor& mask, float p) {
  check_dense_f32(dout, "DOut");
  check_p(p);
  PD_CHECK(mask.dtype() == paddle::DataType::UINT8 && mask.is_contiguous() && mask.numel() == dout.numel(),
           "dropout grad: Mask must be a contiguous uint8 tensor shaped like DOut");
  auto dx = paddle::empty(dims_of(dout), paddle::DataType::FLOAT32, paddle::CPUPlace());
  const float* dy = dout.data<float>();
  const uint8_t* ms = mask.data<uint8_t>();
  float* d = dx.data<float>();
  const int64_t n = dout.numel();
  const float scale = 1.f / (1.f - p);
  for_each_block(n, [&](int64_t, int64_t begin, int64_t len) {
    dropout_grad_block(dy + begin, ms + begin, d + begin, len, scale);
  });
  return {dx};
}

PD_BUILD_OP(pr_softmax).Inputs({"X"}).Outputs({"Out"}).Attrs({"out_bf16: bool"}).SetKernelFn(PD_KERNEL(Softmax));

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

PD_BUILD_OP(pr_dropout)
    .Inputs({"X"})
    .Outputs({"Out", "Mask"})
    .Attrs({"p: float", "seed: int64_t"})
    .SetKernelFn(PD_KERNEL(Dropout));

PD_BUILD_OP(pr_dropout_grad)
    .Inputs({"DOut", "Mask"})
    .Outputs({"DX"})
    .Attrs({"p: float"})
    .SetKernelFn(PD_KERNEL(DropoutGrad));
