//! What rules may make the regex compiler do. Compiling is the expensive part of a rule (one
//! heavy pattern costs milliseconds, thousands cost minutes), so the number of rules is capped
//! before anything compiles, each regex is capped at [`MAX_REGEX_BYTES`] compiled, and the
//! regexes one request compiles share a [`CompileBudget`] of [`MAX_COMPILED_BYTES_PER_REQUEST`].

/// Cap on one compiled regex (its NFA and one-pass DFA; the lazy DFA's cache is capped alike).
pub const MAX_REGEX_BYTES: usize = 64 * 1024;
/// Cap on the regexes one request compiles, and on the compiled size of an org's active rules
/// of one target, which every write of that target evaluates.
pub const MAX_COMPILED_BYTES_PER_REQUEST: usize = 4 * 1024 * 1024;
/// Most rules one dry run may bring inline.
pub const MAX_INLINE_RULES: usize = 20;
/// Most active rules (both targets) one org may store.
pub const MAX_ACTIVE_RULES_PER_ORG: usize = 200;

/// Compiled regex bytes one request may still build.
#[derive(Debug)]
pub struct CompileBudget {
    spent: usize,
}

impl CompileBudget {
    pub fn per_request() -> CompileBudget {
        CompileBudget { spent: 0 }
    }

    /// Compiled bytes charged so far.
    pub fn spent(&self) -> usize {
        self.spent
    }

    /// Nothing more may be compiled in this request.
    pub fn is_exhausted(&self) -> bool {
        self.spent >= MAX_COMPILED_BYTES_PER_REQUEST
    }

    /// Refuses before compiling once the budget is spent.
    pub(crate) fn check_room(&self) -> Result<(), String> {
        if self.is_exhausted() {
            Err(exceeded())
        } else {
            Ok(())
        }
    }

    /// Charges a compiled regex; one that does not fit is refused (and the budget is spent).
    pub(crate) fn charge(&mut self, bytes: usize) -> Result<(), String> {
        self.spent = self.spent.saturating_add(bytes);
        if self.spent > MAX_COMPILED_BYTES_PER_REQUEST {
            self.spent = MAX_COMPILED_BYTES_PER_REQUEST;
            return Err(exceeded());
        }
        Ok(())
    }
}

fn exceeded() -> String {
    format!(
        "the regexes compile to more than {} MB in all, the cap per request",
        MAX_COMPILED_BYTES_PER_REQUEST / (1024 * 1024)
    )
}
