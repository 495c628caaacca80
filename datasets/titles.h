// MovieLens title cleaning as LlamaRec does it (datasets/ml_100k.py, load_meta_dict):
//   "City of Lost Children, The (Cité des enfants perdus, La) (1995)"
//     -> strip the trailing " (1995)"            "City of Lost Children, The (Cité des enfants perdus, La)"
//     -> remove the other parenthesised parts    "City of Lost Children, The"
//     -> move a trailing ", The"/", A"/", An"    "The City of Lost Children"
//     -> re-append the year                      "The City of Lost Children (1995)"
// Differences from LlamaRec's code, which cuts the last 7 characters blindly: a title without a trailing
// year (24 in ml-latest-small, e.g. "Babylon 5", or "(2006–2007)") keeps its end; trailing spaces are
// trimmed first; runs of spaces left by a removed part are collapsed to one. On ml-latest-small the
// article rule moves exactly the titles LlamaRec's "', the' in the last 5 characters" test moves.
#pragma once

#include <string>
#include <string_view>

namespace lrec::data {

std::string clean_movielens_title(std::string_view title);

}  // namespace lrec::data
