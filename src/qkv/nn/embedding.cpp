#include "qkv/nn/embedding.h"

#include <algorithm>

namespace qkv::nn {

template <typename T>
Embedding<T>::Embedding(int64_t num_embeddings, int64_t embedding_dim, Rng& rng)
    : weight({num_embeddings, embedding_dim}, /*decay=*/false) {
  QKV_CHECK(num_embeddings > 0 && embedding_dim > 0, "Embedding: num_embeddings=", num_embeddings,
            " and embedding_dim=", embedding_dim, " must both be positive");
  for (int64_t i = 0; i < weight.value.numel(); ++i) weight.value[i] = static_cast<T>(rng.normal());
}

template <typename T>
void embedding_forward(const int64_t* ids, int64_t n, const T* w, int64_t V, int64_t E, T* y) {
  for (int64_t i = 0; i < n; ++i) {
    int64_t id = ids[i];
    QKV_CHECK(0 <= id && id < V, "Embedding.forward: argument 'ids' has value ", id, " at flat position ", i,
              "; expected an index in [0, ", V, ")");
    std::copy(w + id * E, w + (id + 1) * E, y + i * E);
  }
}

template <typename T>
void embedding_backward(const int64_t* ids, int64_t n, const T* dy, int64_t E, T* dw) {
  for (int64_t i = 0; i < n; ++i) {
    T* row = dw + ids[i] * E;
    const T* g = dy + i * E;
    for (int64_t e = 0; e < E; ++e) row[e] += g[e];
  }
}

template <typename T>
const Tensor<T>& Embedding<T>::forward(const TensorI& ids) {
  QKV_CHECK(ids.defined() && ids.rank() >= 1, "Embedding.forward: argument 'ids' must have rank >= 1; got shape ",
            shape_str(ids.shape()));
  ids_ = ids.clone();
  Shape out = ids.shape();
  out.push_back(embedding_dim());
  ensure_shape(y_, out);
  embedding_forward(ids_.data(), ids_.numel(), weight.value.data(), num_embeddings(), embedding_dim(), y_.data());
  return y_;
}

template <typename T>
void Embedding<T>::backward(const Tensor<T>& dy) {
  QKV_CHECK(ids_.defined(), "Embedding.backward: called before forward");
  Shape want = ids_.shape();
  want.push_back(embedding_dim());
  QKV_CHECK(dy.shape() == want, "Embedding.backward: argument 'dy' has shape ", shape_str(dy.shape()),
            "; expected ", shape_str(want));
  Tensor<T> g = dy.contiguous();
  embedding_backward(ids_.data(), ids_.numel(), g.data(), embedding_dim(), weight.grad.data());
}

template <typename T>
void Embedding<T>::collect_parameters(const std::string& prefix, NamedParameters<T>& out) {
  out.emplace_back(prefix + "weight", &weight);
}

template class Embedding<float>;
template class Embedding<double>;
template void embedding_forward<float>(const int64_t*, int64_t, const float*, int64_t, int64_t, float*);
template void embedding_forward<double>(const int64_t*, int64_t, const double*, int64_t, int64_t, double*);
template void embedding_backward<float>(const int64_t*, int64_t, const float*, int64_t, float*);
template void embedding_backward<double>(const int64_t*, int64_t, const double*, int64_t, double*);

}  // namespace qkv::nn
