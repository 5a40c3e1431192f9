// Every layer of a trainable model, for code that builds or inspects whole
// networks (engine/network.h, tests). Code that needs one layer includes its
// header under engine/layers/.
#pragma once

#include "engine/layers/batch_norm_layer.h"
#include "engine/layers/conv2d_layer.h"
#include "engine/layers/dense_layer.h"
#include "engine/layers/depthwise_conv2d_layer.h"
#include "engine/layers/flatten_layer.h"
#include "engine/layers/global_avg_pool_layer.h"
#include "engine/layers/layer.h"
#include "engine/layers/pool_layer.h"
#include "engine/layers/relu_layer.h"
#include "engine/layers/softmax_cross_entropy.h"
#include "engine/layers/weighted_layer.h"
