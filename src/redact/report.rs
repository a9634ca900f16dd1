//! The summary of one redaction pass: per-category counts, the action taken, the highest
//! severity. It never carries raw values or offsets into the original payload.

use super::{Action, Finding, Severity};

/// What happened to one category in a redaction pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CategoryReport {
    /// Category name, e.g. `credit_card`.
    pub category: &'static str,
    /// Group name, e.g. `financial`.
    pub group: &'static str,
    /// Number of findings of this category.
    pub count: usize,
    /// The strongest action taken for this category (never [`Action::Allow`]).
    pub action: Action,
    /// The highest severity seen for this category.
    pub severity: Severity,
}

/// Summary of a redaction pass, suitable for an audit entry (`policy_flag`).
///
/// ```
/// use acttrace::redact::{redact_str, Policy};
/// let (out, report) = redact_str("card 4111 1111 1111 1111, call 212-555-0142", &Policy::default_preset());
/// assert_eq!(out, "card <redacted:credit_card>, call 212-555-0142");
/// assert_eq!(report.categories_redacted(), vec!["credit_card"]);
/// assert_eq!(report.categories_flagged(), vec!["phone"]);
/// assert!(!report.blocked());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Sorted by category name.
    entries: Vec<CategoryReport>,
}

impl Report {
    /// An empty report.
    pub fn new() -> Report {
        Report::default()
    }

    /// Records one finding and the action the policy chose for it (`Allow` is ignored).
    pub fn record(&mut self, f: &Finding, action: Action) {
        if action == Action::Allow {
            return;
        }
        // Registry names are 'static: pointer equality is the fast path.
        if let Some(e) = self
            .entries
            .iter_mut()
            .find(|e| std::ptr::eq(e.category, f.category))
        {
            e.count += 1;
            e.action = e.action.max(action);
            e.severity = e.severity.max(f.severity);
            return;
        }
        match self
            .entries
            .binary_search_by(|e| e.category.cmp(f.category))
        {
            Ok(i) => {
                let e = &mut self.entries[i];
                e.count += 1;
                e.action = e.action.max(action);
                e.severity = e.severity.max(f.severity);
            }
            Err(i) => self.entries.insert(
                i,
                CategoryReport {
                    category: f.category,
                    group: f.group,
                    count: 1,
                    action,
                    severity: f.severity,
                },
            ),
        }
    }

    /// Adds another report's counts into this one (strongest action and severity win).
    pub fn merge(&mut self, other: &Report) {
        for o in &other.entries {
            match self
                .entries
                .binary_search_by(|e| e.category.cmp(o.category))
            {
                Ok(i) => {
                    let e = &mut self.entries[i];
                    e.count += o.count;
                    e.action = e.action.max(o.action);
                    e.severity = e.severity.max(o.severity);
                }
                Err(i) => self.entries.insert(i, *o),
            }
        }
    }

    /// True when nothing was flagged, redacted or blocked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Per-category details, sorted by category name.
    pub fn categories(&self) -> &[CategoryReport] {
        &self.entries
    }

    fn names_where(&self, pred: impl Fn(Action) -> bool) -> Vec<&'static str> {
        self.entries
            .iter()
            .filter(|e| pred(e.action))
            .map(|e| e.category)
            .collect()
    }

    /// Categories whose values were removed from the payload (action `redact` or `block`).
    pub fn categories_redacted(&self) -> Vec<&'static str> {
        self.names_where(Action::removes_value)
    }

    /// Categories reported but left in place (action `flag`).
    pub fn categories_flagged(&self) -> Vec<&'static str> {
        self.names_where(|a| a == Action::Flag)
    }

    /// Categories whose policy action is `block` (their values were removed too).
    pub fn categories_blocked(&self) -> Vec<&'static str> {
        self.names_where(|a| a == Action::Block)
    }

    /// True when any category's action is `block`: the caller should refuse the operation.
    pub fn blocked(&self) -> bool {
        self.entries.iter().any(|e| e.action == Action::Block)
    }

    /// True when any value was removed.
    pub fn redacted(&self) -> bool {
        self.entries.iter().any(|e| e.action.removes_value())
    }

    /// The strongest action taken, if any.
    pub fn strongest_action(&self) -> Option<Action> {
        self.entries.iter().map(|e| e.action).max()
    }

    /// The highest severity among reported findings, if any.
    pub fn max_severity(&self) -> Option<Severity> {
        self.entries.iter().map(|e| e.severity).max()
    }

    /// Number of findings of a category (0 when absent).
    pub fn count(&self, category: &str) -> usize {
        self.entries
            .iter()
            .find(|e| e.category == category)
            .map_or(0, |e| e.count)
    }

    /// Total number of reported findings.
    pub fn total(&self) -> usize {
        self.entries.iter().map(|e| e.count).sum()
    }
}
