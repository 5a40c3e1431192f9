#include "engine/model_config.h"

namespace qatlab {

const char* LayerKindName(LayerKind kind) {
  switch (kind) {
    case LayerKind::kDense: return "dense";
    case LayerKind::kConv2D: return "conv2d";
    case LayerKind::kDepthwiseConv2D: return "depthwise_conv2d";
    case LayerKind::kBatchNorm: return "batchnorm";
    case LayerKind::kRelu: return "relu";
    case LayerKind::kRelu6: return "relu6";
    case LayerKind::kMaxPool: return "maxpool";
    case LayerKind::kAvgPool: return "avgpool";
    case LayerKind::kGlobalAvgPool: return "global_avgpool";
    case LayerKind::kFlatten: return "flatten";
    case LayerKind::kAdd: return "add";
  }
  return "unknown";
}

bool IsWeighted(LayerKind kind) {
  return kind == LayerKind::kDense || kind == LayerKind::kConv2D || kind == LayerKind::kDepthwiseConv2D;
}

bool ContinuesFusedGroup(LayerKind kind) {
  return kind == LayerKind::kBatchNorm || kind == LayerKind::kRelu || kind == LayerKind::kRelu6;
}

std::string LayerLabel(const LayerConfig& layer, int index) {
  std::string label = "model.layers[" + std::to_string(index) + "] (" + LayerKindName(layer.kind);
  if (!layer.name.empty()) label += " '" + layer.name + "'";
  return label + ")";
}

std::string ShapeText(const ImageShape& s) {
  return std::to_string(s.height) + "x" + std::to_string(s.width) + "x" + std::to_string(s.channels);
}

Status InferLayerShapes(const std::vector<LayerConfig>& layers, const ImageShape& input,
                        std::vector<ImageShape>* shapes) {
  shapes->clear();
  ImageShape shape = input;
  for (int i = 0; i < static_cast<int>(layers.size()); ++i) {
    const LayerConfig& layer = layers[i];
    switch (layer.kind) {
      case LayerKind::kDense: shape = {1, 1, layer.dense.units}; break;
      case LayerKind::kConv2D:
      case LayerKind::kDepthwiseConv2D: {
        const ConvolutionSettings& conv = layer.convolution;
        const int padded_h = shape.height + 2 * conv.padding;
        const int padded_w = shape.width + 2 * conv.padding;
        if (conv.kernel > padded_h || conv.kernel > padded_w) {
          return Status::InvalidArgument(LayerLabel(layer, i) + ": kernel " + std::to_string(conv.kernel) +
                                         " does not fit input " + ShapeText(shape) + " with padding " +
                                         std::to_string(conv.padding));
        }
        const int channels = layer.kind == LayerKind::kConv2D ? conv.filters : shape.channels;
        shape = {WindowOutputSize(shape.height, conv.kernel, conv.stride, conv.padding),
                 WindowOutputSize(shape.width, conv.kernel, conv.stride, conv.padding), channels};
        break;
      }
      case LayerKind::kMaxPool:
      case LayerKind::kAvgPool: {
        const int pool = layer.pool.pool;
        if (pool > shape.height || pool > shape.width) {
          return Status::InvalidArgument(LayerLabel(layer, i) + ": pool " + std::to_string(pool) +
                                         " does not fit input " + ShapeText(shape));
        }
        shape = {shape.height / pool, shape.width / pool, shape.channels};
        break;
      }
      case LayerKind::kGlobalAvgPool: shape = {1, 1, shape.channels}; break;
      case LayerKind::kFlatten: shape = {1, 1, shape.size()}; break;
      case LayerKind::kAdd: {
        const int from = layer.add.from_layer;
        if (from < 0 || from >= i) {
          return Status::InvalidArgument(LayerLabel(layer, i) + ": `from` names unknown layer '" + layer.add.from +
                                         "'");
        }
        if (!((*shapes)[from] == shape)) {
          return Status::InvalidArgument(LayerLabel(layer, i) + ": shapes differ: input " + ShapeText(shape) + " vs '" +
                                         layer.add.from + "' " + ShapeText((*shapes)[from]));
        }
        break;
      }
      case LayerKind::kBatchNorm:
      case LayerKind::kRelu:
      case LayerKind::kRelu6: break;  // the shape is kept
    }
    if (shape.height <= 0 || shape.width <= 0 || shape.channels <= 0) {
      return Status::InvalidArgument(LayerLabel(layer, i) + ": produces an empty output " + ShapeText(shape));
    }
    shapes->push_back(shape);
  }
  return Status::Ok();
}

}  // namespace qatlab
