// Affine maps over rows of a row-major matrix: the arithmetic of dense layers
// and of convolutions after im2col.
#pragma once

namespace qatlab {

// out = in * W^T + b over `rows` rows. in: (rows, inputs); w: (outputs,
// inputs); b: (outputs); out: (rows, outputs). The product accumulates onto
// the bias: `y = x * W^T` would first zero y and then need another pass to
// add it.
void AffineRows(const float* in, const float* w, const float* b, int rows, int inputs, int outputs, float* out);

// dw += dY^T X, db += column sums of dY (in plain row order), dx = dY W
// (when dx is not null). Shapes as AffineRows; dout: (rows, outputs).
void AffineRowsBackward(const float* in, const float* w, const float* dout, int rows, int inputs, int outputs,
                        float* dw, float* db, float* dx);

}  // namespace qatlab
