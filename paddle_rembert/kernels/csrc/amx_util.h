// What the AMX kernels share: the target attribute, whether Linux grants the tiles, the tile configuration
// (eight 16 x 64-byte tiles) and the vector exp and reciprocal of their epilogues.
#pragma once
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

#define PR_AMX_TARGET __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")))

namespace pr_amx {

inline bool amx_granted() {
  static const bool ok = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    bool amx = ((d >> 22) & 1) && ((d >> 24) & 1);      // AMX-BF16, AMX-TILE
    bool avx512bf16 = false;
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) avx512bf16 = (a >> 5) & 1;
    if (!amx || !avx512bf16) return false;
    constexpr long kReqXcompPerm = 0x1023, kXtiledata = 18;  // ask Linux for the tile state
    return syscall(SYS_arch_prctl, kReqXcompPerm, kXtiledata) == 0;
  }();
  return ok;
}

struct TileConfig {
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

PR_AMX_TARGET inline void configure_tiles() {
  TileConfig cfg;
  for (int i = 0; i < 8; ++i) cfg.rows[i] = 16, cfg.colsb[i] = 64;
  asm volatile("" ::: "memory");  // GCC's _tile_loadconfig declares a read of the first 8 bytes only
  _tile_loadconfig(&cfg);
}

// exp(x) for x <= 0 to about 1 ulp: x = n ln2 + r, |r| <= ln2/2, a degree-6 polynomial, scaled by 2^n.
// Below -87 the result is 0, not a subnormal: the CPU computes with subnormals through microcode assists, tens of
// times slower (a softmax row's masked keys, exp(-1e9), would all take them). NaN stays NaN.
PR_AMX_TARGET inline __m512 exp_nonpositive(__m512 x) {
  __mmask16 normal = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_GE_OQ);
  __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  __m512 input = x;
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_mask_mov_ps(_mm512_maskz_scalef_ps(normal, p, n), nan, input);
}

// 1 / d to about 1 ulp: the 14-bit estimate and one Newton step (a division costs several times more)
PR_AMX_TARGET inline __m512 reciprocal(__m512 d) {
  __m512 r = _mm512_rcp14_ps(d);
  return _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.0f)));
}

}  // namespace pr_amx
