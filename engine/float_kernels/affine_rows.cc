#include "engine/float_kernels/affine_rows.h"

#include <Eigen/Core>

namespace qatlab {
namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMatrix>;
using MutableMap = Eigen::Map<RowMatrix>;
using ConstRow = Eigen::Map<const Eigen::RowVectorXf>;

}  // namespace

void AffineRows(const float* in, const float* w, const float* b, int rows, int inputs, int outputs, float* out) {
  if (rows <= 0) return;
  ConstMap x(in, rows, inputs);
  ConstMap weights(w, outputs, inputs);
  MutableMap y(out, rows, outputs);
  y.rowwise() = ConstRow(b, outputs);
  y.noalias() += x * weights.transpose();
}

void AffineRowsBackward(const float* in, const float* w, const float* dout, int rows, int inputs, int outputs,
                        float* dw, float* db, float* dx) {
  if (rows <= 0) return;
  MutableMap grad_w(dw, outputs, inputs);
  ConstMap x(in, rows, inputs);
  ConstMap dy(dout, rows, outputs);
  grad_w.noalias() += dy.transpose() * x;
  // Column sums in plain row order (Eigen's reduction order could depend on
  // alignment).
  for (int r = 0; r < rows; ++r) {
    const float* row = dout + static_cast<size_t>(r) * outputs;
    for (int c = 0; c < outputs; ++c) db[c] += row[c];
  }
  if (dx != nullptr) {
    MutableMap grad_x(dx, rows, inputs);
    grad_x.noalias() = dy * ConstMap(w, outputs, inputs);
  }
}

}  // namespace qatlab
