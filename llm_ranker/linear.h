// The parameter-holding layers of the Llama model, named as in Hugging Face (`weight`, `bias`).
//
// Linear is the projection type of every q/k/v/o/gate/up/down projection. Its forward is virtual: an
// adapter (LoRA) derives from LinearImpl, takes over the base weight and bias, and is put in the
// projection's place with `Projection::replace` (llama_model.h). Parameters start uninitialised
// (`at::empty`): they are filled by the loader or by `LlamaForCausalLMImpl::init_random`, so a large model is
// never initialised twice.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

namespace lrec::llm {

class LinearImpl : public torch::nn::Module {
 public:
  // weight [out, in]; bias [out] when `bias`.
  LinearImpl(int64_t in_features, int64_t out_features, bool bias, const at::TensorOptions& options);
  virtual ~LinearImpl() = default;
  // x [..., in] -> x Wᵀ + b [..., out]
  virtual at::Tensor forward(const at::Tensor& x);

  at::Tensor weight;
  at::Tensor bias;  // undefined without bias

 protected:
  // Registers the given tensors (shared, not copied) as this layer's weight and bias (bias may be
  // undefined): how an adapter takes over the layer it replaces.
  LinearImpl(at::Tensor weight, at::Tensor bias);
};
TORCH_MODULE(Linear);

class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t num_embeddings, int64_t dim, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& ids);  // ids [...] int64 -> [..., dim]

  at::Tensor weight;  // [num_embeddings, dim]
};
TORCH_MODULE(Embedding);

}  // namespace lrec::llm
