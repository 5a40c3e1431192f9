// Convolution of single-channel images (the first layer on MNIST) straight
// from a zero-padded copy, eight filters at a time: their patches are too
// short for im2col and a matrix product to pay off. Weights are tap-major,
// [taps][blocked], with `blocked` = filters rounded up to kFilterBlock
// (RoundUpToFilterBlock) and zero-padded.
#pragma once

#include "engine/shape.h"

namespace qatlab {

// out: (OH, OW, blocked) of one single-channel image, zero-padded to
// `padded_width` columns; bias: [blocked]. Each output is the bias plus the
// taps' products in row order.
void ConvolveSingleChannel(const float* padded, int padded_width, const ConvGeometry& g, const float* weight,
                           const float* bias, int blocked, float* out);

// The weight gradient of one sample added to dw ([taps][blocked]); dout:
// (OH, OW, blocked); geometry as ConvolveSingleChannel.
void SingleChannelWeightGradient(const float* padded, int padded_width, const ConvGeometry& g, const float* dout,
                                 int blocked, float* dw);

// The input gradient of one sample, added to the zero-padded `padded_grad`;
// w: [filters][taps] as the layer stores it.
void SingleChannelInputGradient(const float* dout, const float* w, const ConvGeometry& g, int filters, int padded_width,
                                float* padded_grad);

}  // namespace qatlab
