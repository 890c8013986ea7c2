// bf16 inference GEMMs with AMX tiles, for the Linear layers of a no-gradient forward.
//
// oneDNN 3.6 (the one the Paddle wheel ships) ran BERT-base's bf16 GEMMs 1.02-1.39x as long as the oneDNN
// 3.12 inside PyTorch on the same operands (docs/benchmarks.md). This kernel is the plain AMX scheme: the
// weights packed once per autocast block into the tiles' VNNI layout; bf16 activations read in place, fp32
// ones rounded to bf16 into the tiles' layout first; each 32 x 32 output block accumulated in four fp32
// tiles over the whole K, in ascending order as oneDNN's kernel sums; and the epilogue (bias, gelu, residual,
// rounding to bf16) applied to a block while the tiles compute the next.
//
// Compiled for any x86-64: the AMX functions carry their own target attribute and run only after cpuid and
// Linux (arch_prctl) grant the tiles; pr_amx_available says whether they did.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "amx_util.h"
#include "dnnl_util.h"

namespace {
using namespace pr_amx;
constexpr int kBlock = 32;        // rows and columns of an output block; K per tile step
constexpr int kTileElems = 512;   // bf16 elements in one 16 x 64-byte tile
constexpr int64_t kL2Budget = 768 * 1024;  // bytes of packed weights streamed per column chunk

// Packed weights: [N/32][K/32][2 tiles][16 k-pairs][16 columns x 2 k] bf16, so each step of the inner loop
// loads two contiguous 1 KiB tiles. Rounding is to nearest even, as oneDNN's reorder rounds.
PR_AMX_TARGET void pack(const float* w, int64_t k, int64_t n, uint16_t* out) {
  int64_t kb_count = k / kBlock, nb_count = n / kBlock;
  // W is read row pair by row pair, front to back (a weight is usually cold: read across its rows, the
  // packing ran 1.4x slower), and each 64-byte tile row is written whole
#pragma omp parallel for
  for (int64_t kb = 0; kb < kb_count; ++kb)
    for (int r = 0; r < 16; ++r) {
      const float* row0 = w + (kb * kBlock + 2 * r) * n;
      for (int64_t col = 0; col < n; col += 16) {
        __m512i lo = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(row0 + col)));
        __m512i hi = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(row0 + n + col)));
        uint16_t* dst =
            out + ((col / kBlock) * kb_count + kb) * 2 * kTileElems + ((col / 16) % 2) * kTileElems + r * 32;
        _mm512_storeu_si512(dst, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
      }
    }
}

// gelu(x) = 0.5 x (1 + erf(x / sqrt 2)), erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7; against oneDNN's
// gelu a few fp32 ulps); 1 + erf is taken as erfc(|z|) or 2 - erfc(|z|) so neither side cancels.
PR_AMX_TARGET inline __m512 gelu_erf(__m512 x) {
  // |z| capped at 10, where erfc is 0 in fp32: an infinite z would make the reciprocal's Newton step inf * 0
  __m512 z = _mm512_min_ps(_mm512_abs_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f))),
                           _mm512_set1_ps(10.0f));
  __m512 t = reciprocal(_mm512_fmadd_ps(z, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.0f)));
  __m512 p = _mm512_set1_ps(1.061405429f);
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
  __m512 minus_z2 = _mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(z, z));
  __m512 erfc = _mm512_mul_ps(_mm512_mul_ps(p, t), exp_nonpositive(minus_z2));
  __mmask16 positive = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GE_OQ);
  __m512 one_plus_erf = _mm512_mask_sub_ps(erfc, positive, _mm512_set1_ps(2.0f), erfc);
  return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), one_plus_erf);
}

// gelu_tanh(x) = 0.5 x (1 + tanh(y)), y = sqrt(2/pi) (x + 0.044715 x^3), computed as x / (1 + exp(-2y)).
PR_AMX_TARGET inline __m512 gelu_tanh(__m512 x) {
  __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
  __m512 y = _mm512_mul_ps(_mm512_set1_ps(0.79788456080286536f), _mm512_fmadd_ps(x3, _mm512_set1_ps(0.044715f), x));
  __m512 m2y = _mm512_mul_ps(_mm512_set1_ps(-2.0f), y);
  // exp(-2y) = exp(-|2y|) or its reciprocal, so the exponential never overflows
  __m512 e = exp_nonpositive(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_abs_ps(m2y)));
  __mmask16 negative_arg = _mm512_cmp_ps_mask(m2y, _mm512_setzero_ps(), _CMP_LE_OQ);
  // m2y <= 0: x / (1 + e); m2y > 0: x e / (e + 1)
  __m512 num = _mm512_mask_mov_ps(_mm512_mul_ps(x, e), negative_arg, x);
  return _mm512_mul_ps(num, reciprocal(_mm512_add_ps(_mm512_set1_ps(1.0f), e)));
}

struct Epilogue {
  const float* bias;  // [N] or null
  const float* add;   // [M, N] or null
  int post;           // 0 none, 1 gelu erf, 2 gelu tanh
  bool out_bf16;
  void* out;          // [M, N]
  int64_t n;
};

// The epilogue's residual and output lines for a block, fetched while its tiles compute (at K = 768 the
// misses of a 32 x 32 epilogue cost about as much as the block's GEMM).
PR_AMX_TARGET inline void prefetch_epilogue(int64_t row0, int rows, int64_t col0, const Epilogue& ep) {
  for (int r = 0; r < rows; ++r) {
    int64_t at = (row0 + r) * ep.n + col0;
    if (ep.add) {
      _mm_prefetch(reinterpret_cast<const char*>(ep.add + at), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(ep.add + at + 16), _MM_HINT_T0);
    }
    if (ep.out_bf16) {
      _mm_prefetch(reinterpret_cast<const char*>(static_cast<uint16_t*>(ep.out) + at), _MM_HINT_ET0);
    } else {
      _mm_prefetch(reinterpret_cast<const char*>(static_cast<float*>(ep.out) + at), _MM_HINT_ET0);
      _mm_prefetch(reinterpret_cast<const char*>(static_cast<float*>(ep.out) + at + 16), _MM_HINT_ET0);
    }
  }
}

// Where the A tiles of a 32-row block are: the tile of K step kb at top + kb * step (rows 0-15) and
// bottom + kb * step (rows 16-31), its rows `stride` bytes apart.
struct ATiles {
  const uint16_t *top, *bottom;
  int64_t step, stride;
};

// Issue a 32 x 32 block's tile products A[32, K] B[K, 32] into the four accumulator tiles.
PR_AMX_TARGET inline void accumulate(const ATiles& a, const uint16_t* b, int64_t kb_count) {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t kb = 0; kb < kb_count; ++kb) {
    const uint16_t* bk = b + kb * 2 * kTileElems;
    _tile_loadd(4, a.top + kb * a.step, a.stride);
    _tile_loadd(6, bk, 64);
    _tile_dpbf16ps(0, 4, 6);
    _tile_loadd(7, bk + kTileElems, 64);
    _tile_dpbf16ps(1, 4, 7);
    _tile_loadd(5, a.bottom + kb * a.step, a.stride);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
}

PR_AMX_TARGET inline void store_tiles(float* sums) {
  _tile_stored(0, sums, 64);
  _tile_stored(1, sums + 256, 64);
  _tile_stored(2, sums + 512, 64);
  _tile_stored(3, sums + 768, 64);
}

// bias, activation and residual on a finished block's sums (four 16 x 16 tiles), for `rows` valid rows.
PR_AMX_TARGET void epilogue(const float* sums, int64_t row0, int rows, int64_t col0, const Epilogue& ep) {
  for (int half = 0; half < 2; ++half) {
    int64_t col = col0 + half * 16;
    __m512 bias = ep.bias ? _mm512_loadu_ps(ep.bias + col) : _mm512_setzero_ps();
    for (int r = 0; r < rows; ++r) {
      __m512 v = _mm512_add_ps(_mm512_loadu_ps(sums + ((r / 16) * 2 + half) * 256 + (r % 16) * 16), bias);
      if (ep.post == 1) v = gelu_erf(v);
      if (ep.post == 2) v = gelu_tanh(v);
      int64_t at = (row0 + r) * ep.n + col;
      if (ep.add) v = _mm512_add_ps(v, _mm512_loadu_ps(ep.add + at));
      if (ep.out_bf16)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(static_cast<uint16_t*>(ep.out) + at),
                            (__m256i)_mm512_cvtneps_pbh(v));
      else
        _mm512_storeu_ps(static_cast<float*>(ep.out) + at, v);
    }
  }
}

// x rows [row0, row0 + rows) rounded to bf16 into dst in the tiles' layout: [rows/16][K/32][16][32], zero rows
// up to a multiple of 32, so every A tile is one contiguous 1 KiB load.
PR_AMX_TARGET void stage_rows(const void* x, bool x_bf16, int64_t row0, int64_t rows, int64_t k, uint16_t* dst) {
  int64_t kb_count = k / kBlock, padded = (rows + kBlock - 1) / kBlock * kBlock;
  for (int64_t r = 0; r < padded; ++r) {
    uint16_t* d = dst + (r / 16) * kb_count * kTileElems + (r % 16) * kBlock;
    for (int64_t kb = 0; kb < kb_count; ++kb, d += kTileElems) {
      if (r >= rows) {
        _mm512_storeu_si512(d, _mm512_setzero_si512());
      } else if (x_bf16) {
        _mm512_storeu_si512(d, _mm512_loadu_si512(static_cast<const uint16_t*>(x) + (row0 + r) * k + kb * kBlock));
      } else {
        const float* s = static_cast<const float*>(x) + (row0 + r) * k + kb * kBlock;
        _mm512_storeu_ps(reinterpret_cast<float*>(d),
                         (__m512)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(s + 16), _mm512_loadu_ps(s)));
      }
    }
  }
}

// `staged` holds bf16 rows (a multiple of 32 of them) where X cannot be read in place: all of X when it is
// fp32, only the last, partial block when it is bf16. Each thread stages the rows it computes.
PR_AMX_TARGET void gemm(const void* x, bool x_bf16, int64_t m, int64_t k, int64_t n, const uint16_t* packed,
                        uint16_t* staged, float* sums_buffer, int64_t chunk, const Epilogue& ep) {
  int64_t kb_count = k / kBlock, nb_count = n / kBlock, mb_count = (m + kBlock - 1) / kBlock;
  int64_t full = m / kBlock * kBlock;  // rows in whole blocks
#pragma omp parallel
  {
    int threads = omp_get_num_threads(), id = omp_get_thread_num();
    int64_t b0 = mb_count * id / threads, b1 = mb_count * (id + 1) / threads;
    int64_t row0 = b0 * kBlock, row1 = std::min(b1 * kBlock, m);
    if (row1 > row0) {
      if (!x_bf16) stage_rows(x, false, row0, row1 - row0, k, staged + row0 * k);
      else if (row1 > full) stage_rows(x, true, full, m - full, k, staged);
      asm volatile("" ::: "memory");  // the tile loads (asm without a memory clobber) read the staged rows
      configure_tiles();
      float* sums = sums_buffer + static_cast<int64_t>(id) * chunk * 1024;  // the chunk's blocks, 4 KiB each
      for (int64_t nb0 = 0; nb0 < nb_count; nb0 += chunk)
        for (int64_t r = row0; r < row1; r += kBlock) {
          // staged rows are in the tiles' layout; bf16 rows of X are read in place, 16 rows per tile
          ATiles a;
          if (!x_bf16 || r >= full) {
            const uint16_t* base = x_bf16 ? staged : staged + r * k;
            a = {base, base + kb_count * kTileElems, kTileElems, 64};
          } else {
            const uint16_t* base = static_cast<const uint16_t*>(x) + r * k;
            a = {base, base + 16 * k, kBlock, 2 * k};
          }
          int rows = static_cast<int>(std::min<int64_t>(kBlock, row1 - r));
          // software pipelined: the vector epilogue of one block runs while the tiles compute the next
          int64_t pending = -1;
          for (int64_t nb = nb0; nb < std::min(nb0 + chunk, nb_count); ++nb) {
            float* slot = sums + (nb - nb0) * 1024;
            prefetch_epilogue(r, rows, nb * kBlock, ep);
            accumulate(a, packed + nb * kb_count * 2 * kTileElems, kb_count);
            if (pending >= 0) epilogue(sums + (pending - nb0) * 1024, r, rows, pending * kBlock, ep);
            store_tiles(slot);
            pending = nb;
          }
          epilogue(sums + (pending - nb0) * 1024, r, rows, pending * kBlock, ep);
        }
      _tile_release();
    }
  }
}
}  // namespace

// Whether this process may run the AMX kernels (the CPU has AMX-BF16 and AVX512-BF16, Linux granted the tiles).
std::vector<paddle::Tensor> AmxAvailable(const paddle::Tensor& x) {
  auto out = paddle::full({1}, amx_granted() ? 1.0 : 0.0, paddle::DataType::INT32, paddle::CPUPlace());
  return {out};
}

// Ws float32 [K, N_i] (K and every N_i multiples of 32) -> one packed bf16 copy [sum N_i / 32, K/32, 1024] of
// their concatenation along N (attention's q|k|v), for pr_amx_linear.
std::vector<paddle::Tensor> AmxPack(const std::vector<paddle::Tensor>& ws) {
  PD_CHECK(amx_granted(), "amx pack: this CPU or OS does not grant AMX tiles");
  PD_CHECK(!ws.empty(), "amx pack: no weight");
  int64_t k = ws[0].dims().size() == 2 ? ws[0].dims()[0] : -1, n = 0;
  for (auto& w : ws) {
    pr::check_dense_f32(w, "amx pack: W");
    PD_CHECK(w.dims().size() == 2 && w.dims()[0] == k && k > 0 && k % kBlock == 0 && w.dims()[1] % kBlock == 0,
             "amx pack: each W must be [K, N] with the same K, K and N positive multiples of 32");
    n += w.dims()[1];
  }
  auto out = paddle::empty({n / kBlock, k / kBlock, 2 * kTileElems}, paddle::DataType::BFLOAT16, paddle::CPUPlace());
  auto* dst = static_cast<uint16_t*>(out.data());
  for (auto& w : ws) {  // the packing is blocked by 32 columns: each weight fills its own range of blocks
    pack(w.data<float>(), k, w.dims()[1], dst);
    dst += k * w.dims()[1];
  }
  return {out};
}

// out[..., N] = act(X[..., K] W + Bias) (+ Add), W packed by pr_amx_pack; X float32 or bfloat16, rounded to
// bf16; fp32 accumulation; post 0 none, 1 gelu erf, 2 gelu tanh; Add a float32 [..., N] residual; out float32,
// or bfloat16 with out_bf16.
std::vector<paddle::Tensor> AmxLinear(const paddle::Tensor& x, const paddle::Tensor& packed,
                                      const paddle::optional<paddle::Tensor>& bias,
                                      const paddle::optional<paddle::Tensor>& add, int post, bool out_bf16) {
  PD_CHECK(amx_granted(), "amx linear: this CPU or OS does not grant AMX tiles");
  PD_CHECK(post >= 0 && post <= 2, "amx linear: post must be 0 (none), 1 (gelu) or 2 (gelu tanh)");
  bool x_bf16 = x.dtype() == paddle::DataType::BFLOAT16;
  PD_CHECK(x.is_cpu() && x.is_contiguous() && (x_bf16 || x.dtype() == paddle::DataType::FLOAT32),
           "amx linear: X must be a contiguous float32 or bfloat16 CPU tensor");
  PD_CHECK(packed.dtype() == paddle::DataType::BFLOAT16 && packed.dims().size() == 3 &&
               packed.dims()[2] == 2 * kTileElems,
           "amx linear: the weight must come from pr_amx_pack");
  auto xd = pr::dims_of(x);
  PD_CHECK(!xd.empty(), "amx linear: X needs a rank of at least 1");
  int64_t k = xd.back(), n = packed.dims()[0] * kBlock, m = x.numel() / std::max<int64_t>(k, 1);
  PD_CHECK(k == packed.dims()[1] * kBlock, "amx linear: X has ", k, " features, the weight ",
           packed.dims()[1] * kBlock);
  std::vector<int64_t> od = xd;
  od.back() = n;
  Epilogue ep{nullptr, nullptr, post, out_bf16, nullptr, n};
  if (bias.is_initialized()) {
    PD_CHECK(bias->is_cpu() && bias->dtype() == paddle::DataType::FLOAT32 && bias->is_contiguous() &&
                 bias->numel() == n,
             "amx linear: Bias must be a contiguous float32 [N] CPU tensor");
    ep.bias = bias->data<float>();
  }
  if (add.is_initialized()) {
    pr::check_dense_f32(*add, "amx linear: Add");
    PD_CHECK(add->numel() == m * n && pr::dims_of(*add).back() == n, "amx linear: Add must have the output's shape");
    ep.add = add->data<float>();
  }
  auto out = paddle::empty(od, out_bf16 ? paddle::DataType::BFLOAT16 : paddle::DataType::FLOAT32, paddle::CPUPlace());
  ep.out = out.data();
  if (m > 0) {
    int64_t staged_rows = x_bf16 ? (m % kBlock ? kBlock : 0) : (m + kBlock - 1) / kBlock * kBlock;
    paddle::Tensor staged;  // Paddle's allocator: 64-byte aligned
    if (staged_rows) staged = paddle::empty({staged_rows, k}, paddle::DataType::BFLOAT16, paddle::CPUPlace());
    // columns per chunk: the chunk's packed weights stay in L2 while every row block of the thread reads them
    int64_t chunk = std::min(n / kBlock, std::max<int64_t>(1, kL2Budget / (k * 2 * kBlock)));
    auto sums = paddle::empty({omp_get_max_threads() * chunk * 1024}, paddle::DataType::FLOAT32, paddle::CPUPlace());
    gemm(x.data(), x_bf16, m, k, n, static_cast<const uint16_t*>(packed.data()),
         staged_rows ? static_cast<uint16_t*>(staged.data()) : nullptr, sums.data<float>(), chunk, ep);
  }
  return {out};
}

PD_BUILD_OP(pr_amx_available).Inputs({"X"}).Outputs({"Out"}).SetKernelFn(PD_KERNEL(AmxAvailable));

PD_BUILD_OP(pr_amx_pack).Inputs({paddle::Vec("Ws")}).Outputs({"Out"}).SetKernelFn(PD_KERNEL(AmxPack));

PD_BUILD_OP(pr_amx_linear)
    .Inputs({"X", "W", paddle::Optional("Bias"), paddle::Optional("Add")})
    .Outputs({"Out"})
    .Attrs({"post: int", "out_bf16: bool"})
    .SetKernelFn(PD_KERNEL(AmxLinear));
