// Python: the grapheme-to-phoneme data and metrics, so that a peer (bench/torch_transformer_g2p.py)
// trains and scores on exactly qkv's dictionary, split, vocabularies and metrics.
//
//   read_cmudict(path=None) → (words, stats): words {word: [[phoneme, …], …]} sorted by word,
//                             stats {entries, skipped_characters, lowercased, duplicate_pronunciations}
//   g2p_split(word) → "train" | "dev" | "test";   fnv1a64(word) → int
//   g2p_vocab(kind) → tokens by id ("<pad>", "<bos>", "<eos>", …); kind graphemes | phonemes | phonemes_stress
//   strip_stress(phonemes) → phonemes;   g2p_edit_distance(a, b) → int
//   score_g2p(predictions, references, stress=True) → {words, word_errors, edits, reference_phonemes, wer, per}
#include <pybind11/stl.h>

#include "bindings.h"
#include "qkv/core/error.h"
#include "qkv/data/cmudict.h"
#include "qkv/data/g2p_metrics.h"
#include "qkv/data/g2p_split.h"
#include "qkv/data/g2p_vocab.h"

namespace qkv::python {
namespace {

using data::Phonemes;

py::tuple read_cmudict_py(const std::optional<std::string>& path) {
  data::CmuDict d;
  {
    py::gil_scoped_release release;
    d = data::read_cmudict(path.value_or(data::kCmudictPath));
  }
  py::dict words;
  for (const auto& w : d.words) words[py::str(w.word)] = py::cast(w.pronunciations);
  py::dict stats;
  stats["entries"] = d.stats.entries;
  stats["skipped_characters"] = d.stats.skipped_characters;
  stats["lowercased"] = d.stats.lowercased;
  stats["duplicate_pronunciations"] = d.stats.duplicate_pronunciations;
  return py::make_tuple(words, stats);
}

std::vector<std::string> vocab_py(const std::string& kind) {
  QKV_CHECK(kind == "graphemes" || kind == "phonemes" || kind == "phonemes_stress", "g2p_vocab: argument 'kind' is '",
            kind, "'; expected graphemes, phonemes or phonemes_stress");
  const data::G2pVocab v = kind == "graphemes" ? data::G2pVocab::graphemes()
                                               : data::G2pVocab::phonemes(kind == "phonemes_stress");
  std::vector<std::string> tokens;
  for (int64_t id = 0; id < v.size(); ++id) tokens.push_back(v.token(id));
  return tokens;
}

py::dict score_py(const std::vector<Phonemes>& predictions, const std::vector<std::vector<Phonemes>>& references,
                  bool stress) {
  const data::G2pScore s = data::score_g2p(predictions, references, stress);
  py::dict out;
  out["words"] = s.words;
  out["word_errors"] = s.word_errors;
  out["edits"] = s.edits;
  out["reference_phonemes"] = s.reference_phonemes;
  out["wer"] = s.wer();
  out["per"] = s.per();
  return out;
}

Binding reg("g2p", [](py::module_& m) {
  m.def("read_cmudict", &read_cmudict_py, py::arg("path") = py::none(),
        "The CMU dictionary in Festival's format (default: Debian's festlex-cmu) as (words, stats): words maps "
        "each word (a-z and ') to its distinct pronunciations, phoneme lists in CMUdict notation (AH0, EH1).");
  m.def("g2p_split", [](const std::string& w) { return std::string(data::g2p_split_name(data::g2p_split_of(w))); },
        py::arg("word"), "The word's split: FNV-1a 64 of its bytes mod 100: < 90 train, < 95 dev, else test.");
  m.def("fnv1a64", [](const std::string& w) { return data::fnv1a64(w); }, py::arg("word"));
  m.def("g2p_vocab", &vocab_py, py::arg("kind"),
        "Tokens by id of the grapheme-to-phoneme vocabularies: graphemes, phonemes or phonemes_stress.");
  m.def("strip_stress", [](const Phonemes& p) { return data::strip_stress(p); }, py::arg("phonemes"));
  m.def("g2p_edit_distance", [](const Phonemes& a, const Phonemes& b) { return data::edit_distance(a, b); },
        py::arg("a"), py::arg("b"), "Levenshtein distance between two phoneme lists.");
  m.def("score_g2p", &score_py, py::arg("predictions"), py::arg("references"), py::arg("stress") = true,
        "WER (a word is right when it equals any reference) and PER (edits to the closest reference / its "
        "length, summed over words), with or without stress.");
});

}  // namespace
}  // namespace qkv::python
