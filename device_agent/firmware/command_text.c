#include "command_text.h"

void command_split(char* text, command_tokens* tokens) {
  tokens->count = 0;
  char* cursor = text;
  for (;;) {
    while (*cursor == ' ') *cursor++ = '\0';
    if (*cursor == '\0') return;
    if (tokens->count < COMMAND_MAX_TOKENS) tokens->tokens[tokens->count] = cursor;
    tokens->count++;
    while (*cursor != ' ' && *cursor != '\0') cursor++;
  }
}

int command_parse_u32(const char* text, uint32_t* value) {
  if (*text == '\0') return 0;
  uint64_t result = 0;
  for (; *text; ++text) {
    if (*text < '0' || *text > '9') return 0;
    result = result * 10u + (uint64_t)(*text - '0');
    if (result > 0xFFFFFFFFu) return 0;
  }
  *value = (uint32_t)result;
  return 1;
}

int command_hex_digit(char character) {
  if (character >= '0' && character <= '9') return character - '0';
  if (character >= 'a' && character <= 'f') return character - 'a' + 10;
  if (character >= 'A' && character <= 'F') return character - 'A' + 10;
  return -1;
}

int command_parse_hex32(const char* text, uint32_t* value) {
  uint32_t result = 0;
  int digits = 0;
  for (; *text; ++text) {
    int digit = command_hex_digit(*text);
    if (digit < 0 || ++digits > 8) return 0;
    result = (result << 4) | (uint32_t)digit;
  }
  if (digits == 0) return 0;
  *value = result;
  return 1;
}

int command_equals(const char* a, const char* b) {
  while (*a && *a == *b) {
    a++;
    b++;
  }
  return *a == *b;
}
