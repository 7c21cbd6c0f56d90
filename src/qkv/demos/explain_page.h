// The interactive page of `qkv explain --html FILE` (template: explorer/explain.js).
//
// Data: the tokens, X, S = XXᵀ, A = softmax(S), Y = AX; Q, K, V and qkv's softmax(QKᵀ/√d_k)
// (the page recomputes softmax(QKᵀ·s) for any scale s from Q and K); the measured variance
// table; the multi-head trace (input, per-head weights, concatenation, W_O, output); the
// squeeze-and-excitation weights. Everything comes from an ExplainResult, so the page shows the
// numbers that `qkv explain` prints.
#pragma once

#include <string>

#include "qkv/demos/explain.h"

namespace qkv::demos {

std::string explain_page_json(const ExplainResult& result);
std::string explain_page_html(const ExplainResult& result);

}  // namespace qkv::demos
