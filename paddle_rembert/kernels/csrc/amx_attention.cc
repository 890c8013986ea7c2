// Self-attention of a bf16 inference forward in one pass per head with AMX tiles:
// context = softmax(scale Q K^T + mask) V, with q, k and v read from the q|k|v projection's output and the
// context written with its heads merged.
//
// The unfused path is three operators: the scores GEMM writes [B, H, L, L] in fp32, the softmax reads them
// and writes the probabilities in bf16, and the context GEMM reads those. Here the scores, probabilities and
// context of a block of 32 queries stay in the thread's buffers. The rounding points are the unfused path's:
// scores and softmax in fp32, probabilities rounded to bf16 for the context GEMM, fp32 sums, the context
// rounded to bf16. Only the exponential differs (ours, against oneDNN's), by about an fp32 ulp.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "amx_util.h"
#include "dnnl_util.h"

namespace {
using namespace pr_amx;

// Where one (batch, head) reads and writes, in elements: q, k and v rows are `width` apart in QKV
// ([B, L, 3 * heads * d]); the output rows are heads * d apart.
struct Head {
  const uint16_t *q, *k, *v;
  uint16_t* out;
  const float* mask;     // the batch's mask rows (L floats each), or null
  int64_t mask_stride;   // between queries' mask rows: 0 when one row serves every query
};

struct Dims {
  int64_t l, lp, d, width, out_width;  // lp: L rounded up to a multiple of 32
  float scale;
};

// K as the B operand of Q K^T: per 16-key tile and 32-wide step of d, a tile [16 pairs of d][16 keys][2],
// element (r, c, t) = K[key c][2r + t]; in 32-bit words, the transpose of a 16 x 16 block of K's rows.
// Keys from L on are zero.
PR_AMX_TARGET void pack_keys(const uint16_t* k, const Dims& s, uint32_t* out) {
  int64_t steps = s.d / 32;
  for (int64_t kt = 0; kt < s.lp / 16; ++kt)
    for (int64_t ks = 0; ks < steps; ++ks) {
      uint32_t* tile = out + (kt * steps + ks) * 256;
      for (int c = 0; c < 16; ++c) {
        int64_t key = kt * 16 + c;
        if (key >= s.l) {
          for (int r = 0; r < 16; ++r) tile[r * 16 + c] = 0;
          continue;
        }
        const uint32_t* row = reinterpret_cast<const uint32_t*>(k + key * s.width + ks * 32);
        for (int r = 0; r < 16; ++r) tile[r * 16 + c] = row[r];
      }
    }
}

// 16 values of V's row `key` from column `col`, widened to 32 bits (zero from L on)
PR_AMX_TARGET inline __m512i value_row(const uint16_t* v, const Dims& s, int64_t key, int64_t col) {
  if (key >= s.l) return _mm512_setzero_si512();
  return _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + key * s.width + col)));
}

// V as the B operand of P V: per 16-column tile of d and 32-key step, a tile [16 key pairs][16 columns][2],
// element (r, c, t) = V[key 2r + t][column c]. Keys from L on are zero.
PR_AMX_TARGET void pack_values(const uint16_t* v, const Dims& s, uint16_t* out) {
  int64_t steps = s.lp / 32;
  for (int64_t ct = 0; ct < s.d / 16; ++ct)
    for (int64_t js = 0; js < steps; ++js) {
      uint16_t* tile = out + (ct * steps + js) * 512;
      for (int r = 0; r < 16; ++r) {
        int64_t key = js * 32 + 2 * r;
        __m512i pair = _mm512_or_si512(value_row(v, s, key, ct * 16),
                                       _mm512_slli_epi32(value_row(v, s, key + 1, ct * 16), 16));
        _mm512_storeu_si512(tile + r * 32, pair);
      }
    }
}

// Queries q0 .. q0 + rows - 1 in the A tiles' layout [2 halves][d/32 steps][16 rows][32], zero rows after.
PR_AMX_TARGET void stage_queries(const uint16_t* q, const Dims& s, int64_t q0, int rows, uint16_t* out) {
  int64_t steps = s.d / 32;
  for (int r = 0; r < 32; ++r)
    for (int64_t ks = 0; ks < steps; ++ks) {
      uint16_t* dst = out + ((r / 16) * steps + ks) * 512 + (r % 16) * 32;
      __m512i x = r < rows ? _mm512_loadu_si512(q + (q0 + r) * s.width + ks * 32) : _mm512_setzero_si512();
      _mm512_storeu_si512(dst, x);
    }
}

// Four accumulator tiles: tiles 0|1 the top 16 rows, 2|3 the bottom 16; 0|2 the left 16 columns, 1|3 the right.
PR_AMX_TARGET inline void block_product(const uint16_t* a_top, const uint16_t* a_bottom, int64_t a_step,
                                        int64_t a_stride, const uint16_t* b_left, const uint16_t* b_right,
                                        int64_t steps) {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t i = 0; i < steps; ++i) {
    _tile_loadd(4, a_top + i * a_step, a_stride);
    _tile_loadd(6, b_left + i * 512, 64);
    _tile_dpbf16ps(0, 4, 6);
    _tile_loadd(7, b_right + i * 512, 64);
    _tile_dpbf16ps(1, 4, 7);
    _tile_loadd(5, a_bottom + i * a_step, a_stride);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
}

PR_AMX_TARGET inline void store_block(float* c, int64_t stride_elems) {
  _tile_stored(0, c, stride_elems * 4);
  _tile_stored(1, c + 16, stride_elems * 4);
  _tile_stored(2, c + 16 * stride_elems, stride_elems * 4);
  _tile_stored(3, c + 16 * stride_elems + 16, stride_elems * 4);
}

// One row of scores (L of them, in place) -> bf16 probabilities, zero from L to lp: x = scale * s + mask,
// softmax(x) = exp(x - max) / sum.
PR_AMX_TARGET void softmax_row(float* s, const float* mask, const Dims& d, uint16_t* p) {
  __m512 scale = _mm512_set1_ps(d.scale), top = _mm512_set1_ps(-INFINITY);
  for (int64_t j = 0; j < d.l; j += 16) {
    __mmask16 m = d.l - j >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (d.l - j)) - 1);
    __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, s + j), scale);
    if (mask) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, mask + j));
    _mm512_mask_storeu_ps(s + j, m, x);
    top = _mm512_mask_max_ps(top, m, top, x);
  }
  __m512 max = _mm512_set1_ps(_mm512_reduce_max_ps(top)), sum = _mm512_setzero_ps();
  for (int64_t j = 0; j < d.l; j += 16) {
    __mmask16 m = d.l - j >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (d.l - j)) - 1);
    __m512 e = exp_nonpositive(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + j), max));
    e = _mm512_maskz_mov_ps(m, e);
    _mm512_mask_storeu_ps(s + j, m, e);
    sum = _mm512_add_ps(sum, e);
  }
  __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
  for (int64_t j = 0; j < d.lp; j += 16) {
    __m512 e = j < d.l ? _mm512_loadu_ps(s + j) : _mm512_setzero_ps();
    if (j < d.l && d.l - j < 16) e = _mm512_maskz_mov_ps(static_cast<__mmask16>((1u << (d.l - j)) - 1), e);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p + j), (__m256i)_mm512_cvtneps_pbh(_mm512_mul_ps(e, inv)));
  }
}

struct Buffers {
  std::vector<uint32_t> keys;
  std::vector<uint16_t> values, queries, probs;
  std::vector<float> scores, context;
  explicit Buffers(const Dims& s)
      : keys(s.lp * s.d / 2), values(s.lp * s.d), queries(32 * s.d), probs(32 * s.lp), scores(32 * s.lp),
        context(32 * s.d) {}
};

PR_AMX_TARGET void head_attention(const Head& h, const Dims& s, Buffers& buf) {
  int64_t d_steps = s.d / 32, key_steps = s.lp / 32;
  pack_keys(h.k, s, buf.keys.data());
  pack_values(h.v, s, buf.values.data());
  const uint16_t* keys = reinterpret_cast<const uint16_t*>(buf.keys.data());
  for (int64_t q0 = 0; q0 < s.l; q0 += 32) {
    int rows = static_cast<int>(std::min<int64_t>(32, s.l - q0));
    stage_queries(h.q, s, q0, rows, buf.queries.data());
    const uint16_t* qs = buf.queries.data();
    asm volatile("" ::: "memory");  // the tile loads (asm without a memory clobber) read the staged rows
    for (int64_t kp = 0; kp < key_steps; ++kp) {  // scores of 32 keys: key tiles 2 kp and 2 kp + 1
      block_product(qs, qs + d_steps * 512, 512, 64, keys + (2 * kp) * d_steps * 512,
                    keys + (2 * kp + 1) * d_steps * 512, d_steps);
      store_block(buf.scores.data() + kp * 32, s.lp);
    }
    asm volatile("" ::: "memory");
    for (int r = 0; r < 32; ++r) {
      uint16_t* p = buf.probs.data() + r * s.lp;
      if (r < rows)
        softmax_row(buf.scores.data() + r * s.lp, h.mask ? h.mask + (q0 + r) * h.mask_stride : nullptr, s, p);
      else
        std::fill(p, p + s.lp, 0);
    }
    asm volatile("" ::: "memory");
    const uint16_t* p = buf.probs.data();
    for (int64_t cp = 0; cp < s.d / 32; ++cp) {  // context columns 32 cp .. 32 cp + 31
      block_product(p, p + 16 * s.lp, 32, 2 * s.lp, buf.values.data() + (2 * cp) * key_steps * 512,
                    buf.values.data() + (2 * cp + 1) * key_steps * 512, key_steps);
      store_block(buf.context.data() + cp * 32, s.d);
    }
    asm volatile("" ::: "memory");
    for (int r = 0; r < rows; ++r)
      for (int64_t c = 0; c < s.d; c += 16)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(h.out + (q0 + r) * s.out_width + c),
                            (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(buf.context.data() + r * s.d + c)));
  }
}
// The lines of q, k and v that a head will read, fetched into L2. Its rows are a whole q|k|v row apart, too far
// for the hardware prefetcher (it stays within a 4 KiB page), so without this every line is a miss.
PR_AMX_TARGET inline void prefetch_head(const uint16_t* row, const Dims& s) {
  for (int64_t i = 0; i < s.l; ++i)
    for (int part = 0; part < 3; ++part)
      for (int64_t byte = 0; byte < s.d * 2; byte += 64)
        _mm_prefetch(reinterpret_cast<const char*>(row + i * s.width + part * s.out_width) + byte, _MM_HINT_T1);
}

// Every (batch, head) pair, split between the threads; each prefetches its next head's rows.
PR_AMX_TARGET void all_heads(const uint16_t* x, const float* mask, int64_t batch_stride, int64_t query_stride,
                             int64_t b, int64_t heads, const Dims& s, uint16_t* y) {
  int64_t l = s.l, width = s.width, d = s.d, hd = s.out_width;
#pragma omp parallel
  {
    Buffers buf(s);
    configure_tiles();
#pragma omp for schedule(static)
    for (int64_t task = 0; task < b * heads; ++task) {
      int64_t bi = task / heads, hi = task % heads;
      const uint16_t* row = x + bi * l * width + hi * d;
      Head h{row, row + hd, row + 2 * hd, y + bi * l * hd + hi * d, mask ? mask + bi * batch_stride : nullptr,
             query_stride};
      if (task + 1 < b * heads) prefetch_head(x + (task + 1) / heads * l * width + (task + 1) % heads * d, s);
      head_attention(h, s, buf);
    }
    _tile_release();
  }
}
}  // namespace

// QKV bfloat16 [B, L, 3 * heads * D] (q | k | v, D a multiple of 32); Mask (optional) float32 [B or 1, 1, L or 1,
// L], added to the scaled scores -> the context, bfloat16 [B, L, heads * D].
std::vector<paddle::Tensor> AmxAttention(const paddle::Tensor& qkv, const paddle::optional<paddle::Tensor>& mask,
                                         int heads, float scale) {
  PD_CHECK(amx_granted(), "amx attention: this CPU or OS does not grant AMX tiles");
  PD_CHECK(qkv.is_cpu() && qkv.is_contiguous() && qkv.dtype() == paddle::DataType::BFLOAT16 &&
               qkv.dims().size() == 3,
           "amx attention: QKV must be a contiguous bfloat16 [B, L, 3 * heads * D] CPU tensor");
  int64_t b = qkv.dims()[0], l = qkv.dims()[1], width = qkv.dims()[2];
  PD_CHECK(heads > 0 && width % (3 * heads) == 0 && (width / (3 * heads)) % 32 == 0,
           "amx attention: QKV's last dim ", width, " is not 3 x ", heads, " heads x a multiple of 32");
  int64_t d = width / (3 * heads), hd = heads * d;
  const float* mask_data = nullptr;
  int64_t batch_stride = 0, query_stride = 0;
  if (mask.is_initialized()) {
    pr::check_dense_f32(*mask, "amx attention: Mask");
    auto md = pr::dims_of(*mask);
    PD_CHECK(md.size() == 4 && (md[0] == b || md[0] == 1) && md[1] == 1 && (md[2] == l || md[2] == 1) && md[3] == l,
             "amx attention: Mask must be [B or 1, 1, L or 1, L] for B = ", b, ", L = ", l);
    mask_data = mask->data<float>();
    query_stride = md[2] == 1 ? 0 : l;
    batch_stride = md[0] == 1 ? 0 : md[2] * l;
  }
  auto out = paddle::empty({b, l, hd}, paddle::DataType::BFLOAT16, paddle::CPUPlace());
  if (b == 0 || l == 0) return {out};
  Dims s{l, (l + 31) / 32 * 32, d, width, hd, scale};
  all_heads(static_cast<const uint16_t*>(qkv.data()), mask_data, batch_stride, query_stride, b, heads, s,
            static_cast<uint16_t*>(out.data()));
  return {out};
}

PD_BUILD_OP(pr_amx_attention)
    .Inputs({"QKV", paddle::Optional("Mask")})
    .Outputs({"Out"})
    .Attrs({"heads: int", "scale: float"})
    .SetKernelFn(PD_KERNEL(AmxAttention));
