// The ReLU and ReLU6 element loops. They take everything by value: a loop
// that reads a lambda's by-reference captures must reload them after every
// store (the store might alias them), which keeps it scalar and branchy.
#pragma once

namespace qatlab {

// y = min(max(x, 0), cap) over `count` elements.
void ClampRange(const float* x, float cap, int count, float* y);

// dx = dy where 0 < x < cap, else 0.
void ClampBackwardRange(const float* x, const float* dy, float cap, int count, float* dx);

}  // namespace qatlab
