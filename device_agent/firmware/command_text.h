/* Splitting a command into tokens and reading its numbers. Commands separate
 * tokens with one space (docs/protocol.md); numbers are plain unsigned
 * decimal or 8-digit-or-fewer hex without a prefix. */
#ifndef QATLAB_FW_COMMAND_TEXT_H_
#define QATLAB_FW_COMMAND_TEXT_H_

#include <stdint.h>

#define COMMAND_MAX_TOKENS 8

typedef struct {
  char* tokens[COMMAND_MAX_TOKENS];
  uint32_t count; /* tokens beyond COMMAND_MAX_TOKENS are counted, not kept */
} command_tokens;

/* Splits `text` in place at spaces (runs of spaces count as one). */
void command_split(char* text, command_tokens* tokens);

/* 1 and *value when `text` is a decimal number that fits 32 bits, else 0. */
int command_parse_u32(const char* text, uint32_t* value);

/* 1 and *value when `text` is 1 to 8 hex digits (either case), else 0. */
int command_parse_hex32(const char* text, uint32_t* value);

/* The value of one hex digit, or -1. */
int command_hex_digit(char character);

int command_equals(const char* a, const char* b);

#endif /* QATLAB_FW_COMMAND_TEXT_H_ */
