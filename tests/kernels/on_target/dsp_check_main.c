/* Runs the DSP kernels (real SMLAD / SXTB16 / SXTAB16) against the reference
 * kernels on the emulated Cortex-M4 (QEMU mps2-an386) over seeded random
 * shapes, and reports through semihosting: "dsp check: ok ..." and exit 0, or
 * the first mismatch and exit 1. The host test dsp_variants_test.cc runs the
 * same DSP code through portable emulations of the instructions; this one
 * checks the instructions themselves. */
#include <stdint.h>
#include <string.h>

#include "qatlab_kernels/kernel_variants.h"

/* ---- Startup and semihosting -------------------------------------------- */

extern uint32_t _stack_top, _data_load, _data_start, _data_end, _bss_start, _bss_end;
int main(void);
void dsp_check_reset(void);

static void semihosting_call(uint32_t operation, const void* argument) {
  register uint32_t r0 __asm__("r0") = operation;
  register const void* r1 __asm__("r1") = argument;
  __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
}

static void print(const char* text) { semihosting_call(0x04u /* SYS_WRITE0 */, text); }

static void finish(int ok) {
  /* SYS_EXIT: ApplicationExit ends QEMU with status 0, RunTimeErrorUnknown with 1. */
  semihosting_call(0x18u, (const void*)(uintptr_t)(ok ? 0x20026u : 0x20023u));
  for (;;) {
  }
}

static void fault(void) {
  print("dsp check: fault\n");
  finish(0);
}

__attribute__((section(".vectors"), used)) static void (*const g_vectors[16])(void) = {
    (void (*)(void))(uintptr_t)&_stack_top, dsp_check_reset, fault, fault, fault, fault, fault};

void dsp_check_reset(void) {
  memcpy(&_data_start, &_data_load, (size_t)((uint8_t*)&_data_end - (uint8_t*)&_data_start));
  memset(&_bss_start, 0, (size_t)((uint8_t*)&_bss_end - (uint8_t*)&_bss_start));
  finish(main() == 0);
}

/* ---- Seeded cases ------------------------------------------------------ */

static uint32_t g_state = 20261126u;

static uint32_t next_random(void) { /* xorshift32 */
  g_state ^= g_state << 13;
  g_state ^= g_state >> 17;
  g_state ^= g_state << 5;
  return g_state;
}

static int32_t random_in(int32_t low, int32_t high) {
  return low + (int32_t)(next_random() % (uint32_t)(high - low + 1));
}

/* Weight widths in turn: 8, 4 (4-bit container), 2, then one of 2..8. */
static int32_t random_bits(uint32_t trial) {
  static const int32_t widths[3] = {8, 4, 2};
  return trial % 4 == 3 ? random_in(2, 8) : widths[trial % 4];
}

static void fill_s8(int8_t* values, int32_t count) {
  for (int32_t i = 0; i < count; ++i) values[i] = (int8_t)random_in(-128, 127);
}

static void append_number(char* text, uint32_t value) {
  char digits[12];
  int n = 0;
  do {
    digits[n++] = (char)('0' + value % 10u);
    value /= 10u;
  } while (value != 0u);
  size_t end = strlen(text);
  while (n > 0) text[end++] = digits[--n];
  text[end] = '\0';
}

static int8_t g_input[14 * 14 * 17];
static int8_t g_weights[400 * 33];
static int32_t g_bias[40], g_multiplier[40], g_shift[40];
/* A convolution's output side is at most in + kernel - 1 (padding < kernel,
 * stride >= 1): 14 + 5 - 1 = 18, by up to 12 channels. */
static int8_t g_reference[18 * 18 * 12], g_optimized[18 * 18 * 12];

/* Shifts in -14..-2: the kernels' 32-bit output stage, selected per layer
 * (kernels/src/output_stage_dsp.h). Every third trial puts one channel out of
 * it (a shift in -1..2, or a negative multiplier), so that the general
 * output stage runs too. */
static void fill_quantization(int32_t channels, uint32_t trial) {
  for (int32_t c = 0; c < channels; ++c) {
    g_bias[c] = random_in(-200000, 200000);
    g_multiplier[c] = (int32_t)((1u << 30) + (next_random() & 0x3FFFFFFFu));
    g_shift[c] = random_in(-14, -2);
  }
  if (trial % 3 == 1) {
    const int32_t channel = random_in(0, channels - 1);
    if (trial % 2 == 0) {
      g_shift[channel] = random_in(-1, 2);
    } else {
      g_multiplier[channel] = -random_in(1, 1 << 30);
    }
  }
}

/* Prints "dsp check: <kernel> mismatch in trial <trial>"; returns 0. */
static int report_mismatch(const char* kernel, uint32_t trial) {
  char text[64] = "dsp check: ";
  strcat(text, kernel);
  strcat(text, " mismatch in trial ");
  append_number(text, trial);
  print(text);
  print("\n");
  return 0;
}

/* A random convolution: kernel 1..5 square or not, stride 1..3, padding
 * below the kernel, an input of up to 14x14 that the window fits, random
 * offsets and activation range. */
typedef struct {
  qk_conv_params params;
  qk_dims in_dims, out_dims;
} conv_case;

static conv_case random_conv_case(int32_t in_channels, int32_t out_channels) {
  const int32_t kernel_h = random_in(1, 5), kernel_w = random_in(1, 5), stride = random_in(1, 3);
  const int32_t padding = random_in(0, (kernel_h < kernel_w ? kernel_h : kernel_w) - 1);
  const int32_t min_h = kernel_h - 2 * padding > 1 ? kernel_h - 2 * padding : 1;
  const int32_t min_w = kernel_w - 2 * padding > 1 ? kernel_w - 2 * padding : 1;
  const int32_t in_h = random_in(min_h, 14), in_w = random_in(min_w, 14);
  const conv_case c = {
      {random_in(-127, 128),
       random_in(-128, 127),
       kernel_h,
       kernel_w,
       stride,
       padding,
       {random_in(-128, -1), random_in(0, 127)}},
      {in_h, in_w, in_channels},
      {(in_h + 2 * padding - kernel_h) / stride + 1, (in_w + 2 * padding - kernel_w) / stride + 1, out_channels}};
  return c;
}

static int check_dense(uint32_t trial) {
  /* Every eighth case longer than a patch (QK_DSP_PATCH_MAX = 1024): the
   * paths for long inputs. */
  const int32_t long_input = trial % 8 == 7;
  const int32_t inputs = long_input ? random_in(1025, 1600) : random_in(1, 400);
  const int32_t outputs = long_input ? random_in(1, 8) : random_in(1, 33);
  fill_s8(g_input, inputs);
  fill_s8(g_weights, inputs * outputs);
  fill_quantization(outputs, trial);
  const qk_dense_params params = {random_in(-127, 128), random_in(-128, 127), {-128, 127}};
  const qk_per_channel_quant quant = {g_multiplier, g_shift};
  /* Random bytes are valid packed weights of any container width. */
  const qk_packed_weights weights = {(const uint8_t*)g_weights, random_bits(trial)};
  if (qk_dense_s8_reference(&params, &quant, inputs, g_input, &weights, g_bias, outputs, g_reference) != QK_OK ||
      qk_dense_s8(&params, &quant, inputs, g_input, &weights, g_bias, outputs, g_optimized) != QK_OK ||
      memcmp(g_reference, g_optimized, (size_t)outputs) != 0) {
    return report_mismatch("dense", trial);
  }
  return 1;
}

static int check_conv(uint32_t trial) {
  const int32_t in_channels = random_in(1, 17), out_channels = random_in(1, 12);
  const conv_case c = random_conv_case(in_channels, out_channels);
  const qk_conv_params params = c.params;
  const qk_dims in_dims = c.in_dims, out_dims = c.out_dims;
  fill_s8(g_input, in_dims.height * in_dims.width * in_channels);
  fill_s8(g_weights, out_channels * params.kernel_h * params.kernel_w * in_channels);
  fill_quantization(out_channels, trial);
  const qk_per_channel_quant quant = {g_multiplier, g_shift};
  const qk_packed_weights weights = {(const uint8_t*)g_weights, random_bits(trial)};
  const size_t output_size = (size_t)(out_dims.height * out_dims.width * out_dims.channels);
  if (qk_conv2d_s8_reference(&params, &quant, &in_dims, g_input, &weights, g_bias, &out_dims, g_reference) != QK_OK ||
      qk_conv2d_s8(&params, &quant, &in_dims, g_input, &weights, g_bias, &out_dims, g_optimized) != QK_OK ||
      memcmp(g_reference, g_optimized, output_size) != 0) {
    return report_mismatch("conv2d", trial);
  }
  return 1;
}

static int check_depthwise(uint32_t trial) {
  const int32_t channels = random_in(1, 12);
  const conv_case c = random_conv_case(channels, channels);
  const qk_conv_params params = c.params;
  const qk_dims in_dims = c.in_dims, out_dims = c.out_dims;
  fill_s8(g_input, in_dims.height * in_dims.width * channels);
  fill_s8(g_weights, params.kernel_h * params.kernel_w * channels);
  fill_quantization(channels, trial);
  const qk_per_channel_quant quant = {g_multiplier, g_shift};
  const qk_packed_weights weights = {(const uint8_t*)g_weights, random_bits(trial)};
  const size_t output_size = (size_t)(out_dims.height * out_dims.width * channels);
  if (qk_depthwise_conv2d_s8_reference(&params, &quant, &in_dims, g_input, &weights, g_bias, &out_dims, g_reference) !=
          QK_OK ||
      qk_depthwise_conv2d_s8(&params, &quant, &in_dims, g_input, &weights, g_bias, &out_dims, g_optimized) != QK_OK ||
      memcmp(g_reference, g_optimized, output_size) != 0) {
    return report_mismatch("depthwise", trial);
  }
  return 1;
}

static int check_maxpool(uint32_t trial) {
  const int32_t channels = random_in(1, 12);
  const conv_case c = random_conv_case(channels, channels);
  const qk_dims in_dims = c.in_dims, out_dims = c.out_dims;
  const qk_pool_params params = {c.params.kernel_h, c.params.kernel_w, c.params.stride, c.params.padding,
                                 c.params.activation};
  fill_s8(g_input, in_dims.height * in_dims.width * channels);
  const size_t output_size = (size_t)(out_dims.height * out_dims.width * channels);
  if (qk_maxpool_s8_reference(&params, &in_dims, g_input, &out_dims, g_reference) != QK_OK ||
      qk_maxpool_s8(&params, &in_dims, g_input, &out_dims, g_optimized) != QK_OK ||
      memcmp(g_reference, g_optimized, output_size) != 0) {
    return report_mismatch("maxpool", trial);
  }
  return 1;
}

int main(void) {
  if (strcmp(qk_kernel_variant(), "cortex-m-dsp") != 0) {
    print("dsp check: built without the DSP variant\n");
    return 1;
  }
  const uint32_t trials = 300;
  for (uint32_t trial = 0; trial < trials; ++trial) {
    if (!check_dense(trial) || !check_conv(trial) || !check_depthwise(trial) || !check_maxpool(trial)) return 1;
  }
  char text[128] = "dsp check: ok, ";
  append_number(text, 4u * trials);
  strcat(text, " dense, conv2d, depthwise (2..8-bit weights) and maxpool cases bit-exact on cortex-m-dsp\n");
  print(text);
  return 0;
}
