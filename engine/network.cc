#include "engine/network.h"

#include <algorithm>
#include <cmath>

#include "qatlab_kernels/fixed_point.h"

namespace qatlab {
namespace {

// Average pooling as the integer kernel computes it (kernels/src/pooling_s8.c):
// the int8 values of each window, zero point included, summed and divided
// with rounding half away from zero. Averaging the real values in float and
// rounding that differs on exact ties, which a quarter of 2x2 windows are,
// and float error decides the tie; so a quantized network averages the
// integers of its grid instead. The window is window_h x window_w with
// stride equal to the window; `in` lies on `grid`.
void AveragePoolOnGrid(const Tensor& in, const QuantParams& grid, int window_h, int window_w, Tensor* out) {
  const ImageShape& is = in.shape;
  const ImageShape& os = out->shape;
  const int channels = is.channels;
  const int32_t window = window_h * window_w;
  std::vector<int32_t> sums(channels);
  for (int n = 0; n < in.n; ++n) {
    const float* x = in.sample(n);
    float* y = out->sample(n);
    for (int oy = 0; oy < os.height; ++oy) {
      for (int ox = 0; ox < os.width; ++ox) {
        std::fill(sums.begin(), sums.end(), 0);
        for (int ky = 0; ky < window_h; ++ky) {
          for (int kx = 0; kx < window_w; ++kx) {
            const float* v = x + ((oy * window_h + ky) * is.width + ox * window_w + kx) * channels;
            for (int c = 0; c < channels; ++c) {
              sums[c] += static_cast<int32_t>(std::lround(v[c] / grid.scale)) + grid.zero_point;
            }
          }
        }
        float* result = y + (oy * os.width + ox) * channels;
        for (int c = 0; c < channels; ++c) {
          const int32_t q = qk_divide_round_half_away(sums[c], window);
          result[c] = grid.scale * static_cast<float>(q - grid.zero_point);
        }
      }
    }
  }
}

}  // namespace

StatusOr<std::unique_ptr<Network>> Network::Create(const std::vector<LayerConfig>& layers, const ImageShape& input,
                                                   uint64_t seed) {
  std::vector<ImageShape> shapes;
  QATLAB_RETURN_IF_ERROR(InferLayerShapes(layers, input, &shapes));
  std::unique_ptr<Network> net(new Network());
  net->configs_ = layers;
  net->shapes_.push_back(input);
  net->residual_source_.assign(layers.size(), -1);
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerConfig& config = layers[i];
    const ConvolutionSettings& conv = config.convolution;
    std::unique_ptr<Layer> layer;
    switch (config.kind) {
      case LayerKind::kDense: layer = std::make_unique<DenseLayer>(config.dense.units); break;
      case LayerKind::kConv2D:
        layer = std::make_unique<Conv2DLayer>(conv.filters, conv.kernel, conv.stride, conv.padding);
        break;
      case LayerKind::kDepthwiseConv2D:
        layer = std::make_unique<DepthwiseConv2DLayer>(conv.kernel, conv.stride, conv.padding);
        break;
      case LayerKind::kBatchNorm: layer = std::make_unique<BatchNormLayer>(config.batch_norm.epsilon); break;
      case LayerKind::kRelu: layer = std::make_unique<ReluLayer>(0.0f); break;
      case LayerKind::kRelu6: layer = std::make_unique<ReluLayer>(6.0f); break;
      case LayerKind::kMaxPool: layer = std::make_unique<PoolLayer>(true, config.pool.pool); break;
      case LayerKind::kAvgPool: layer = std::make_unique<PoolLayer>(false, config.pool.pool); break;
      case LayerKind::kGlobalAvgPool: layer = std::make_unique<GlobalAvgPoolLayer>(); break;
      case LayerKind::kFlatten: layer = std::make_unique<FlattenLayer>(); break;
      case LayerKind::kAdd:
        // InferLayerShapes checked that the source is an earlier layer.
        net->residual_source_[i] = config.add.from_layer + 1;
        break;
    }
    const ImageShape out = layer ? layer->Setup(net->shapes_.back()) : net->shapes_.back();
    if (auto* weighted = dynamic_cast<WeightedLayer*>(layer.get())) {
      weighted->Initialize(seed * 1000003ULL + i);
    }
    net->shapes_.push_back(out);
    net->layers_.push_back(std::move(layer));
  }
  const size_t acts = layers.size() + 1;
  net->quantizers_.resize(acts);
  net->acts_.resize(acts);
  net->grads_.resize(acts);
  net->residual_.resize(acts);
  net->has_residual_.assign(acts, false);
  return net;
}

namespace {

// The arrays of `layer` that `values` fills, each with its source, in one
// list so sizes are checked before anything is copied.
struct WeightCopy {
  const char* what;
  const std::vector<float>* from;
  FloatBuffer* to;
};

std::vector<WeightCopy> WeightCopies(Layer* layer, const LayerWeights& values) {
  if (auto* weighted = dynamic_cast<WeightedLayer*>(layer)) {
    return {{"weights", &values.weights, &weighted->weights()}, {"bias", &values.bias, &weighted->bias()}};
  }
  if (auto* bn = dynamic_cast<BatchNormLayer*>(layer)) {
    return {{"gamma", &values.gamma, &bn->gamma},
            {"beta", &values.beta, &bn->beta},
            {"running_mean", &values.running_mean, &bn->running_mean},
            {"running_var", &values.running_var, &bn->running_var}};
  }
  return {};
}

}  // namespace

Status Network::LoadWeights(const std::vector<LayerWeights>& weights) {
  if (weights.size() != layers_.size()) {
    return Status::InvalidArgument("weights for " + std::to_string(weights.size()) + " layers, but the model has " +
                                   std::to_string(layers_.size()));
  }
  std::vector<WeightCopy> copies;
  for (size_t i = 0; i < layers_.size(); ++i) {
    for (const WeightCopy& copy : WeightCopies(layers_[i].get(), weights[i])) {
      if (copy.from->size() != copy.to->size()) {
        return Status::InvalidArgument(LayerLabel(configs_[i], static_cast<int>(i)) + ": " + copy.what + " has " +
                                       std::to_string(copy.from->size()) + " values, the layer " +
                                       std::to_string(copy.to->size()));
      }
      copies.push_back(copy);
    }
  }
  for (const WeightCopy& copy : copies) std::copy(copy.from->begin(), copy.from->end(), copy.to->begin());
  return Status::Ok();
}

void Network::CopyStateFrom(Network& other) {
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (!layers_[i]) continue;
    std::vector<FloatBuffer*> mine, theirs;
    layers_[i]->State(&mine);
    other.layers_[i]->State(&theirs);
    for (size_t k = 0; k < mine.size(); ++k) *mine[k] = *theirs[k];
  }
}

StatusOr<std::unique_ptr<Network>> Network::Clone() {
  // The seed only initialises weights that CopyStateFrom then replaces.
  QATLAB_ASSIGN_OR_RETURN(std::unique_ptr<Network> copy, Create(configs_, shapes_.front(), 0));
  copy->CopyStateFrom(*this);
  return copy;
}

int Network::weighted_layer_count() const {
  int count = 0;
  for (const auto& config : configs_) count += IsWeighted(config.kind) ? 1 : 0;
  return count;
}

int64_t Network::FloatParameterCount() const {
  int64_t count = 0;
  for (const auto& layer : layers_) {
    if (auto* weighted = dynamic_cast<WeightedLayer*>(layer.get())) {
      count += static_cast<int64_t>(weighted->weights().size() + weighted->bias().size());
    }
  }
  return count;
}

int64_t Network::MacCount() const {
  int64_t macs = 0;
  for (size_t i = 0; i < layers_.size(); ++i) {
    auto* weighted = dynamic_cast<WeightedLayer*>(layers_[i].get());
    if (!weighted) continue;
    const ImageShape& out = shapes_[i + 1];
    const int64_t positions = static_cast<int64_t>(out.height) * out.width;
    if (configs_[i].kind == LayerKind::kDense) {
      macs += static_cast<int64_t>(weighted->weights().size());
    } else {
      // Each output position uses every weight once (depthwise: per channel).
      macs += positions * static_cast<int64_t>(weighted->weights().size());
    }
  }
  return macs;
}

int64_t Network::FloatActivationBytes() const {
  int64_t peak = 0;
  for (size_t i = 0; i < layers_.size(); ++i) {
    int64_t live = shapes_[i].size() + shapes_[i + 1].size();
    if (residual_source_[i] >= 0) live += shapes_[residual_source_[i]].size();
    peak = std::max(peak, live);
  }
  return peak * static_cast<int64_t>(sizeof(float));
}

const Tensor& Network::Forward(const float* images, int n, bool training) {
  Tensor& input = acts_[0];
  input.Resize(n, shapes_[0]);
  std::copy(images, images + input.data.size(), input.data.begin());
  if (quantizers_[0]) quantizers_[0]->Forward(&input, training);
  for (size_t i = 0; i < layers_.size(); ++i) {
    Tensor& out = acts_[i + 1];
    if (!layers_[i]) {
      const Tensor& a = acts_[i];
      const Tensor& b = acts_[residual_source_[i]];
      out.Resize(a.n, a.shape);
      for (size_t k = 0; k < a.data.size(); ++k) out.data[k] = a.data[k] + b.data[k];
    } else {
      if (quantized_ && grid_[i] != nullptr && grid_[i]->has_range()) {
        if (auto* weighted = dynamic_cast<WeightedLayer*>(layers_[i].get())) {
          weighted->set_input_scale(grid_[i]->params().scale);
        }
      }
      layers_[i]->Forward(acts_[i], &out, training);
      const LayerConfig& config = configs_[i];
      const bool average_pool = config.kind == LayerKind::kAvgPool || config.kind == LayerKind::kGlobalAvgPool;
      if (quantized_ && average_pool && grid_[i] != nullptr && grid_[i]->has_range() && !grid_[i]->calibrating()) {
        const bool windowed = config.kind == LayerKind::kAvgPool;
        const int window_h = windowed ? config.pool.pool : shapes_[i].height;
        const int window_w = windowed ? config.pool.pool : shapes_[i].width;
        AveragePoolOnGrid(acts_[i], grid_[i]->params(), window_h, window_w, &out);
      }
    }
    if (quantizers_[i + 1]) quantizers_[i + 1]->Forward(&out, training);
  }
  return acts_.back();
}

void Network::Backward(const Tensor& grad_logits) {
  std::fill(has_residual_.begin(), has_residual_.end(), false);
  grads_.back() = grad_logits;
  for (int i = static_cast<int>(layers_.size()) - 1; i >= 0; --i) {
    Tensor& g = grads_[i + 1];
    if (has_residual_[i + 1]) {
      for (size_t k = 0; k < g.data.size(); ++k) g.data[k] += residual_[i + 1].data[k];
    }
    if (quantizers_[i + 1]) quantizers_[i + 1]->Backward(&g);
    Tensor* din = i == 0 ? nullptr : &grads_[i];
    if (!layers_[i]) {
      if (din != nullptr) *din = g;
      const int source = residual_source_[i];
      if (has_residual_[source]) {
        for (size_t k = 0; k < g.data.size(); ++k) residual_[source].data[k] += g.data[k];
      } else {
        residual_[source] = g;
        has_residual_[source] = true;
      }
    } else {
      layers_[i]->Backward(acts_[i], acts_[i + 1], g, din);
    }
  }
}

void Network::Parameters(std::vector<ParameterRef>* params) {
  for (auto& layer : layers_) {
    if (layer) layer->Parameters(params);
  }
  for (auto& q : quantizers_) {
    if (q && q->learned()) params->push_back({q->learned_scale(), q->learned_scale_grad(), 1, false, 1e-8f});
  }
}

void Network::ZeroGradients() {
  std::vector<ParameterRef> params;
  Parameters(&params);
  for (auto& p : params) std::fill(p.grad, p.grad + p.size, 0.0f);
}

void Network::EnableQuantization(const QuantizationSettings& settings) {
  quantized_ = true;
  const int count = static_cast<int>(layers_.size());
  // Fold batch norms first: weight scales are taken from folded weights.
  for (int i = 0; i + 1 < count; ++i) {
    auto* weighted = dynamic_cast<WeightedLayer*>(layers_[i].get());
    auto* bn = dynamic_cast<BatchNormLayer*>(layers_[i + 1].get());
    if (weighted && bn) weighted->FoldBatchNorm(bn);
  }
  int weighted_index = 0;
  for (int i = 0; i < count; ++i) {
    auto* weighted = dynamic_cast<WeightedLayer*>(layers_[i].get());
    if (!weighted) continue;
    WeightQuantization wq;
    wq.bits = settings.weight_bits[weighted_index++];
    wq.per_tensor = settings.per_tensor;
    wq.method = wq.bits <= 4 ? settings.low_bit_weight_method : settings.weight_method;
    wq.frozen = settings.freeze_weight_scales;
    weighted->QuantizeWeights(wq);
  }
  QuantParams input_params;
  input_params.scale = 1.0f / 255.0f;
  input_params.zero_point = -128;
  quantizers_[0] = std::make_unique<ActivationQuantizer>(ActivationQuantizer::Fixed(input_params));
  // grid[a]: the quantizer whose grid act a lies on (nullptr: off-grid, an
  // intermediate of a fused group).
  std::vector<ActivationQuantizer*>& grid = grid_;
  grid.assign(count + 1, nullptr);
  grid[0] = quantizers_[0].get();
  for (int i = 0; i < count; ++i) {
    const LayerKind kind = configs_[i].kind;
    const bool next_continues = i + 1 < count && ContinuesFusedGroup(configs_[i + 1].kind);
    if (kind == LayerKind::kMaxPool || kind == LayerKind::kFlatten) {
      grid[i + 1] = grid[i];
    } else if (kind == LayerKind::kAvgPool || kind == LayerKind::kGlobalAvgPool) {
      quantizers_[i + 1] =
          std::make_unique<ActivationQuantizer>(settings.activation_bits, settings.symmetric_activations);
      quantizers_[i + 1]->ShareParamsWith(grid[i]);
      grid[i + 1] = quantizers_[i + 1].get();
    } else if (!next_continues) {
      quantizers_[i + 1] =
          std::make_unique<ActivationQuantizer>(settings.activation_bits, settings.symmetric_activations);
      grid[i + 1] = quantizers_[i + 1].get();
    }
  }
}

void Network::BeginCalibration(int samples) {
  for (auto& q : quantizers_) {
    if (q) q->BeginCalibration(samples);
  }
}

void Network::EndCalibration(RangeMethod method, double percentile) {
  for (auto& q : quantizers_) {
    if (q) q->EndCalibration(method, percentile);
  }
}

void Network::FreezeObservers(bool frozen) {
  for (auto& q : quantizers_) {
    if (q) q->set_frozen(frozen);
  }
}

void Network::FreezeWeightScales() {
  for (auto& layer : layers_) {
    if (auto* weighted = dynamic_cast<WeightedLayer*>(layer.get())) weighted->FreezeWeightScales();
  }
}

void Network::FreezeBatchNorm(bool frozen) {
  for (auto& layer : layers_) {
    if (auto* bn = dynamic_cast<BatchNormLayer*>(layer.get())) bn->set_frozen(frozen);
  }
}

void Network::EnableLearnedStepSize() {
  for (auto& q : quantizers_) {
    if (q) q->EnableLearnedStepSize();
  }
  for (auto& layer : layers_) {
    if (auto* weighted = dynamic_cast<WeightedLayer*>(layer.get())) weighted->EnableLearnedWeightScales();
  }
}

}  // namespace qatlab
