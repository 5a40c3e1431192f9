#include "engine/float_kernels/pooling.h"

#include <cstddef>
#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace qatlab {

void MaxPoolSample(const float* x, const ImageShape& in, const ImageShape& out, int pool, float* y, float* winner) {
  const int channels = in.channels;
  for (int oy = 0; oy < out.height; ++oy) {
    for (int ox = 0; ox < out.width; ++ox) {
      const size_t o = (static_cast<size_t>(oy) * out.width + ox) * channels;
      const float* first = x + (static_cast<size_t>(oy * pool) * in.width + ox * pool) * channels;
      int c = 0;
#if defined(__AVX__)
      for (; c + 8 <= channels; c += 8) {
        __m256 top = _mm256_loadu_ps(first + c);
        __m256 index = _mm256_setzero_ps();
        for (int ky = 0; ky < pool; ++ky) {
          for (int kx = 0; kx < pool; ++kx) {
            if (ky == 0 && kx == 0) continue;
            const __m256 v = _mm256_loadu_ps(first + (static_cast<size_t>(ky) * in.width + kx) * channels + c);
            const __m256 greater = _mm256_cmp_ps(v, top, _CMP_GT_OQ);
            top = _mm256_max_ps(v, top);
            index = _mm256_blendv_ps(index, _mm256_set1_ps(static_cast<float>(ky * pool + kx)), greater);
          }
        }
        _mm256_storeu_ps(y + o + c, top);
        if (winner != nullptr) _mm256_storeu_ps(winner + o + c, index);
      }
#endif
      for (; c < channels; ++c) {
        float top = first[c];
        float index = 0.0f;
        for (int ky = 0; ky < pool; ++ky) {
          for (int kx = 0; kx < pool; ++kx) {
            const float v = first[(static_cast<size_t>(ky) * in.width + kx) * channels + c];
            const bool greater = v > top;
            top = greater ? v : top;
            index = greater ? static_cast<float>(ky * pool + kx) : index;
          }
        }
        y[o + c] = top;
        if (winner != nullptr) winner[o + c] = index;
      }
    }
  }
}

void MaxPoolBackwardSample(const float* winner, const float* dy, const ImageShape& in, const ImageShape& out, int pool,
                           float* dx) {
  const int channels = in.channels;
  for (int oy = 0; oy < out.height; ++oy) {
    for (int ox = 0; ox < out.width; ++ox) {
      const size_t o = (static_cast<size_t>(oy) * out.width + ox) * channels;
      float* first = dx + (static_cast<size_t>(oy * pool) * in.width + ox * pool) * channels;
      int c = 0;
#if defined(__AVX__)
      for (; c + 8 <= channels; c += 8) {
        const __m256 index = _mm256_loadu_ps(winner + o + c);
        const __m256 grad = _mm256_loadu_ps(dy + o + c);
        for (int ky = 0; ky < pool; ++ky) {
          for (int kx = 0; kx < pool; ++kx) {
            const __m256 hit = _mm256_cmp_ps(index, _mm256_set1_ps(static_cast<float>(ky * pool + kx)), _CMP_EQ_OQ);
            _mm256_storeu_ps(first + (static_cast<size_t>(ky) * in.width + kx) * channels + c,
                             _mm256_and_ps(hit, grad));
          }
        }
      }
#endif
      for (; c < channels; ++c) {
        for (int ky = 0; ky < pool; ++ky) {
          for (int kx = 0; kx < pool; ++kx) {
            const bool hit = winner[o + c] == static_cast<float>(ky * pool + kx);
            first[(static_cast<size_t>(ky) * in.width + kx) * channels + c] = hit ? dy[o + c] : 0.0f;
          }
        }
      }
    }
  }
}

void AveragePoolSample(const float* x, const ImageShape& in, const ImageShape& out, int pool, float* y) {
  const int channels = in.channels;
  const float inverse_window = 1.0f / static_cast<float>(pool * pool);
  for (int oy = 0; oy < out.height; ++oy) {
    for (int ox = 0; ox < out.width; ++ox) {
      float* result = y + (static_cast<size_t>(oy) * out.width + ox) * channels;
      const float* first = x + (static_cast<size_t>(oy * pool) * in.width + ox * pool) * channels;
      for (int c = 0; c < channels; ++c) result[c] = first[c];
      for (int ky = 0; ky < pool; ++ky) {
        for (int kx = 0; kx < pool; ++kx) {
          if (ky == 0 && kx == 0) continue;
          const float* v = x + (static_cast<size_t>(oy * pool + ky) * in.width + ox * pool + kx) * channels;
          for (int c = 0; c < channels; ++c) result[c] += v[c];
        }
      }
      for (int c = 0; c < channels; ++c) result[c] *= inverse_window;
    }
  }
}

void AveragePoolBackwardSample(const float* dy, const ImageShape& in, const ImageShape& out, int pool, float* dx) {
  const int channels = in.channels;
  const float inverse_window = 1.0f / static_cast<float>(pool * pool);
  for (int oy = 0; oy < out.height; ++oy) {
    for (int ox = 0; ox < out.width; ++ox) {
      const float* g = dy + (static_cast<size_t>(oy) * out.width + ox) * channels;
      for (int ky = 0; ky < pool; ++ky) {
        for (int kx = 0; kx < pool; ++kx) {
          float* d = dx + (static_cast<size_t>(oy * pool + ky) * in.width + ox * pool + kx) * channels;
          for (int c = 0; c < channels; ++c) d[c] = g[c] * inverse_window;
        }
      }
    }
  }
}

}  // namespace qatlab
