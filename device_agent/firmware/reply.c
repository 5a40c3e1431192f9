#include "reply.h"

#include "board.h"

#define REPLY_BUFFER_BYTES 128u

static uint8_t g_buffer[REPLY_BUFFER_BYTES];
static uint32_t g_length;

static void flush(void) {
  board_uart_write(g_buffer, g_length);
  g_length = 0;
}

void reply_char(char character) {
  if (g_length == REPLY_BUFFER_BYTES) flush();
  g_buffer[g_length++] = (uint8_t)character;
}

void reply_text(const char* text) {
  while (*text) reply_char(*text++);
}

void reply_printable(const char* text, uint32_t length) {
  for (uint32_t i = 0; i < length; ++i) {
    char c = text[i];
    reply_char(c >= 0x20 && c <= 0x7E ? c : '?');
  }
}

void reply_unsigned(uint64_t value) {
  char digits[20];
  int count = 0;
  do {
    digits[count++] = (char)('0' + (int)(value % 10u));
    value /= 10u;
  } while (value != 0);
  while (count > 0) reply_char(digits[--count]);
}

void reply_signed(int32_t value) {
  if (value < 0) {
    reply_char('-');
    reply_unsigned((uint64_t)(-(int64_t)value));
  } else {
    reply_unsigned((uint64_t)value);
  }
}

static const char kHexDigits[] = "0123456789abcdef";

void reply_hex32(uint32_t value) {
  for (int shift = 28; shift >= 0; shift -= 4) reply_char(kHexDigits[(value >> shift) & 0xFu]);
}

void reply_hex8(uint8_t value) {
  reply_char(kHexDigits[value >> 4]);
  reply_char(kHexDigits[value & 0xFu]);
}

void reply_end_line(void) {
  reply_char('\r');
  reply_char('\n');
  flush();
}

void reply_line(const char* text) {
  reply_text(text);
  reply_end_line();
}
