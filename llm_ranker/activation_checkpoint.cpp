#include "llm_ranker/activation_checkpoint.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <mutex>

namespace lrec::llm {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Swaps a device's default generator to `state` for its lifetime, then restores the state it found.
class RngStateGuard {
 public:
  RngStateGuard(at::Device device, const at::Tensor& state)
      : generator_(at::globalContext().defaultGenerator(device)) {
    std::lock_guard<std::mutex> lock(generator_.mutex());
    found_ = generator_.get_state();
    generator_.set_state(state);
  }
  ~RngStateGuard() {
    std::lock_guard<std::mutex> lock(generator_.mutex());
    generator_.set_state(found_);
  }
  RngStateGuard(const RngStateGuard&) = delete;
  RngStateGuard& operator=(const RngStateGuard&) = delete;

 private:
  at::Generator generator_;
  at::Tensor found_;
};

// Dropout on CPU tensors draws its seed from the CPU generator, at::dropout on CUDA tensors from the
// device's generator: save what the layer may draw from.
std::vector<at::Device> rng_devices(const at::Tensor& h) {
  if (h.device().is_cpu()) return {at::kCPU};
  return {at::kCPU, h.device()};
}

class CheckpointedLayer : public torch::autograd::Function<CheckpointedLayer> {
 public:
  // `layer` is owned by the model, which outlives the graph; `in` is copied into the context.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& h, LlamaDecoderLayerImpl* layer,
                            const LayerInputs& in) {
    ctx->saved_data["layer"] = reinterpret_cast<int64_t>(layer);
    ctx->saved_data["cos"] = in.cos;
    ctx->saved_data["sin"] = in.sin;
    ctx->saved_data["mask"] = in.mask;
    ctx->saved_data["causal"] = in.causal;
    std::vector<at::Tensor> states;
    for (const at::Device device : rng_devices(h)) {
      at::Generator generator = at::globalContext().defaultGenerator(device);
      std::lock_guard<std::mutex> lock(generator.mutex());
      states.push_back(generator.get_state());
    }
    ctx->saved_data["rng"] = states;
    ctx->save_for_backward({h});
    c10::NoGradGuard no_grad;
    return layer->forward(h, in, nullptr);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_output) {
    auto* layer = reinterpret_cast<LlamaDecoderLayerImpl*>(ctx->saved_data["layer"].toInt());
    const LayerInputs in{ctx->saved_data["cos"].toTensor(), ctx->saved_data["sin"].toTensor(),
                         ctx->saved_data["mask"].toOptional<at::Tensor>().value_or(at::Tensor()),
                         ctx->saved_data["causal"].toBool()};
    const at::Tensor h = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    const std::vector<at::Tensor> states = ctx->saved_data["rng"].toTensorVector();
    const std::vector<at::Device> devices = rng_devices(h);
    at::Tensor out;
    {
      std::vector<std::unique_ptr<RngStateGuard>> guards;
      for (size_t i = 0; i < devices.size(); ++i)
        guards.push_back(std::make_unique<RngStateGuard>(devices[i], states[i]));
      c10::AutoGradMode grad(true);
      out = layer->forward(h, in, nullptr);
    }
    torch::autograd::backward({out}, {grad_output[0]});
    return {h.grad(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor checkpointed_layer(LlamaDecoderLayerImpl& layer, const at::Tensor& h, const LayerInputs& in) {
  // The function is recorded only when an input requires grad. The first layer's input (a frozen
  // embedding) does not, yet its adapters need gradients: make h a leaf that does.
  const at::Tensor input = h.requires_grad() ? h : h.detach().requires_grad_(true);
  return CheckpointedLayer::apply(input, &layer, in);
}

LayerCall checkpointed_layer_call() {
  return [](LlamaDecoderLayerImpl& layer, const at::Tensor& h, const LayerInputs& in, LayerCache* cache) {
    if (cache != nullptr || !c10::GradMode::is_enabled()) return layer.forward(h, in, cache);
    return checkpointed_layer(layer, h, in);
  };
}

}  // namespace lrec::llm
