// The interactive page of `qkv seq2seq --html FILE` (template: explorer/seq2seq.js): a head
// view (lines from every output token to the input tokens, thickness = weight) and a model view
// (a grid of layers × heads), for a choice of precomputed examples.
//
// The data are general: each example holds attention weights (layers, heads, output tokens,
// input tokens). The GRU translator has one layer and one head: its decoder's additive
// attention over the encoder states.
#pragma once

#include <string>
#include <vector>

#include "qkv/demos/seq2seq_dates.h"

namespace qkv::demos {

std::string seq2seq_page_json(const std::vector<Translation>& examples);
std::string seq2seq_page_html(const std::vector<Translation>& examples);

}  // namespace qkv::demos
