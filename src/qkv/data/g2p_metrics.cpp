#include "qkv/data/g2p_metrics.h"

#include <limits>

#include "qkv/core/error.h"

namespace qkv::data {

void G2pScore::add(const Phonemes& predicted, const std::vector<Phonemes>& references, bool stress) {
  QKV_CHECK(!references.empty(), "G2pScore::add: argument 'references' is empty; expected at least one pronunciation");
  const Phonemes prediction = stress ? predicted : strip_stress(predicted);
  int64_t best_edits = std::numeric_limits<int64_t>::max(), best_length = 0;
  for (const auto& r : references) {
    const Phonemes reference = stress ? r : strip_stress(r);
    const int64_t e = edit_distance(prediction, reference);
    if (e < best_edits) {
      best_edits = e;
      best_length = static_cast<int64_t>(reference.size());
    }
  }
  ++words;
  if (best_edits > 0) ++word_errors;
  edits += best_edits;
  reference_phonemes += best_length;
}

G2pScore score_g2p(const std::vector<Phonemes>& predictions, const std::vector<std::vector<Phonemes>>& references,
                   bool stress) {
  QKV_CHECK(predictions.size() == references.size(), "score_g2p: argument 'predictions' has ", predictions.size(),
            " words; expected as many as 'references' (", references.size(), ")");
  G2pScore score;
  for (size_t i = 0; i < predictions.size(); ++i) {
    QKV_CHECK(!references[i].empty(), "score_g2p: argument 'references' has no pronunciation for word ", i);
    score.add(predictions[i], references[i], stress);
  }
  return score;
}

}  // namespace qkv::data
