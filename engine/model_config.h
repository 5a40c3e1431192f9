// The engine's own description of a model: what each layer is and its
// settings, with no wire format. engine/job_spec.h translates a job's layer
// list into these once, at the edge; everything below dispatches on
// LayerKind.
#pragma once

#include <string>
#include <vector>

#include "engine/shape.h"
#include "status/status.h"

namespace qatlab {

enum class LayerKind {
  kDense,
  kConv2D,
  kDepthwiseConv2D,
  kBatchNorm,
  kRelu,
  kRelu6,
  kMaxPool,
  kAvgPool,
  kGlobalAvgPool,
  kFlatten,
  kAdd,
};

// The name a job file uses for `kind` ("conv2d", "relu6", ...); error
// messages name layers by it.
const char* LayerKindName(LayerKind kind);

// Dense, Conv2D and DepthwiseConv2D: the layers with weights.
bool IsWeighted(LayerKind kind);
// BatchNorm, ReLU, ReLU6: layers fused into the layer before them (the
// integer model has no tensor between them).
bool ContinuesFusedGroup(LayerKind kind);

// kDense.
struct DenseSettings {
  int units = 0;
};

// kConv2D (filters) and kDepthwiseConv2D (one filter per input channel).
struct ConvolutionSettings {
  int filters = 0;  // conv2d only
  int kernel = 1;
  int stride = 1;
  int padding = 0;
};

// kMaxPool and kAvgPool: window = stride = pool, no padding.
struct PoolSettings {
  int pool = 0;
};

// kBatchNorm: y = gamma * (x - mean) / sqrt(var + epsilon) + beta. Layer
// lists use PyTorch's epsilon; an imported model carries its own.
struct BatchNormSettings {
  float epsilon = 1e-5f;
};

// kAdd: adds the output of an earlier layer to its input.
struct AddSettings {
  std::string from;     // that layer's name, for messages
  int from_layer = -1;  // its index
};

// One layer. Only the settings of its kind are meaningful.
struct LayerConfig {
  LayerKind kind = LayerKind::kFlatten;
  std::string name;  // may be empty
  DenseSettings dense;
  ConvolutionSettings convolution;
  PoolSettings pool;
  BatchNormSettings batch_norm;
  AddSettings add;
};

// "model.layers[3] (conv2d 'c2')": how every error names a layer.
std::string LayerLabel(const LayerConfig& layer, int index);

// "28x28x1".
std::string ShapeText(const ImageShape& shape);

// The per-sample output shape of each layer of `layers` applied to `input`,
// or InvalidArgument naming the first layer that does not chain (a kernel or
// pool that does not fit, an empty output, an add of unequal shapes).
// shapes->size() == layers.size() on success.
Status InferLayerShapes(const std::vector<LayerConfig>& layers, const ImageShape& input,
                        std::vector<ImageShape>* shapes);

}  // namespace qatlab
