// Search tokens for the catalog, the same for documents and queries, and
// independent of the database's locale and parser: Chinese, Japanese and
// Korean runs become single characters plus overlapping bigrams (the usual
// n-gram approach for unsegmented scripts), everything else lowercase words
// of letters and digits. Pure.
const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;
const RUN = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]+|[\p{L}\p{N}]+/gu;
const MAX_TOKEN = 64;

/** The lexemes of a document: words, CJK unigrams and bigrams; deduplicated. */
export function documentTokens(...texts: readonly string[]): string[] {
  const out = new Set<string>();
  for (const text of texts) {
    for (const run of text.normalize("NFKC").toLowerCase().match(RUN) ?? []) {
      if (CJK.test(run)) {
        const chars = Array.from(run); // code points; a CJK run holds no emoji
        chars.forEach((c, i) => {
          out.add(c);
          const next = chars[i + 1];
          if (next !== undefined) out.add(c + next);
        });
      } else {
        out.add(run.slice(0, MAX_TOKEN));
      }
    }
  }
  return [...out].sort();
}

/** One term of a query: an exact lexeme, or (the last word) a prefix of lexemes. */
export interface SearchTerm {
  lexeme: string;
  prefix: boolean;
}

/**
 * The terms of a user's search text, all of which must match: every word
 * (the last one as a prefix, for search-as-you-type), a CJK run through its
 * bigrams (or its single character). Deduplicated, in order. Undefined when
 * the text has no searchable token.
 */
export function searchTerms(text: string): SearchTerm[] | undefined {
  const terms = new Map<string, SearchTerm>();
  const add = (lexeme: string, prefix: boolean) =>
    terms.set(`${prefix ? "*" : "="}${lexeme}`, { lexeme, prefix });
  const runs = text.normalize("NFKC").toLowerCase().match(RUN) ?? [];
  runs.forEach((run, i) => {
    if (CJK.test(run)) {
      const chars = Array.from(run); // code points; a CJK run holds no emoji
      if (chars.length === 1) add(run, false);
      for (let j = 0; j + 1 < chars.length; j++) add((chars[j] ?? "") + (chars[j + 1] ?? ""), false);
    } else {
      add(run.slice(0, MAX_TOKEN), i === runs.length - 1);
    }
  });
  return terms.size > 0 ? [...terms.values()] : undefined;
}

/** The tsquery of searchTerms: the terms ANDed, the prefix one with `:*`. */
export function searchQuery(text: string): string | undefined {
  return searchTerms(text)
    ?.map((t) => quote(t.lexeme) + (t.prefix ? ":*" : ""))
    .join(" & ");
}

const quote = (lexeme: string): string => `'${lexeme.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;
