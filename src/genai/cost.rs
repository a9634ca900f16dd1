//! What a model call cost: a client-reported amount, the price table's exact figure, or `null`
//! with the reason; and exact per-currency sums of such costs.

use std::fmt::Write as _;

use super::{Decimal, PriceTable, TokenUsage};
use crate::json::Value;
use crate::record::Text;

/// The `cost` and `cost_basis` of an `llm_call`: a reported cost as given, else the price
/// table's exact figure, else `null` with the reason.
pub(super) fn cost_of(
    model: Option<&str>,
    tokens: &[(&'static str, u64)],
    reported: Option<Value>,
    prices: &PriceTable,
) -> (Value, Value) {
    let basis = |pairs: Vec<(&str, Value)>| {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    };
    if let Some(reported) = reported {
        return match reported_amount(&reported) {
            Some(amount) => (
                Value::from(format!("{amount} {}", prices.currency())),
                basis(vec![
                    ("source", Value::from("reported by the client")),
                    (
                        "note",
                        Value::from(format!(
                            "the client reports no currency; {} assumed",
                            prices.currency()
                        )),
                    ),
                ]),
            ),
            None => unpriced_cost(
                prices,
                format!("the reported cost {reported} is not a non-negative amount"),
            ),
        };
    }
    let get = |key: &str| tokens.iter().find(|(k, _)| *k == key).map(|(_, n)| *n);
    let Some(model) = model else {
        return unpriced_cost(prices, "the call reported no model".into());
    };
    let (input, output) = (get("input_tokens"), get("output_tokens"));
    if input.is_none() && output.is_none() {
        return unpriced_cost(prices, "the call reported no token usage".into());
    }
    let usage = TokenUsage {
        input: input.unwrap_or(0),
        output: output.unwrap_or(0),
        cache_read: get("cached_tokens").unwrap_or(0),
        cache_creation: get("cache_write").unwrap_or(0),
    };
    match prices.cost(model, &usage) {
        Ok(cost) => {
            let mut pairs = vec![
                ("source", Value::from("price_table")),
                ("prices", Value::from(cost.table_version.as_str())),
                ("priced_as", Value::from(cost.model.as_str())),
            ];
            if !cost.notes.is_empty() {
                pairs.push((
                    "notes",
                    Value::Array(cost.notes.iter().map(|n| Value::from(n.as_str())).collect()),
                ));
            }
            (
                Value::from(format!("{} {}", cost.amount, cost.currency)),
                basis(pairs),
            )
        }
        Err(why) => unpriced_cost(prices, why.0),
    }
}

/// The `cost` and `cost_basis` for an explicit `llm_call` event (the `llm_call!` macro) that
/// gave token usage but no cost, or `None` when it gave no model or no token counts. Explicit
/// events follow the reference's usage names: `cached_tokens` are part of `input_tokens`,
/// `cache_write` tokens are not.
pub(crate) fn price_explicit_call(
    model: Option<&Value>,
    usage: Option<&Value>,
    prices: &PriceTable,
) -> Option<(Value, Value)> {
    let model = model?.as_str()?;
    let usage = usage?;
    let count = |key: &str| usage.get(key).and_then(Value::as_u64);
    let (input, output) = (count("input_tokens"), count("output_tokens"));
    if input.is_none() && output.is_none() {
        return None;
    }
    for key in [
        "input_tokens",
        "output_tokens",
        "cached_tokens",
        "cache_write",
    ] {
        if usage.get(key).is_some() && count(key).is_none() {
            return Some(unpriced_cost(
                prices,
                format!("usage.{key} is not a token count"),
            ));
        }
    }
    let cache_write = count("cache_write").unwrap_or(0);
    let tokens = [
        (
            "input_tokens",
            input.unwrap_or(0).saturating_add(cache_write),
        ),
        ("output_tokens", output.unwrap_or(0)),
        ("cached_tokens", count("cached_tokens").unwrap_or(0)),
        ("cache_write", cache_write),
    ];
    Some(cost_of(Some(model), &tokens, None, prices))
}

/// A client-reported cost as an exact decimal: a non-negative number (a float by its shortest
/// round-trip digits, which is the value the client meant) or a plain decimal string.
fn reported_amount(reported: &Value) -> Option<Decimal> {
    let text = match reported {
        Value::Number(n) if n.is_integer() => n.to_string(),
        // Rust's shortest round-trip form never uses an exponent.
        Value::Number(n) => format!("{}", n.as_f64()),
        Value::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    Decimal::parse(&text).ok()
}

/// `cost: null` with the reason, naming the price table: the one shape of an `llm_call` that
/// could not be priced.
pub(super) fn unpriced_cost(prices: &PriceTable, reason: String) -> (Value, Value) {
    (
        Value::Null,
        Value::Object(vec![
            ("source".into(), Value::from("price_table")),
            ("prices".into(), Value::from(prices.version())),
            ("reason".into(), Value::from(reason)),
        ]),
    )
}

/// Exact sums of costs written `"<amount> <currency>"` (as `llm_call` entries record them), one
/// per currency in the order each currency was first seen: the totals of a decision's
/// `decision_end` and of `acttrace summary`.
#[derive(Debug, Default)]
pub(crate) struct CurrencyTotals {
    /// The first currency's sum, kept inline: a decision's calls are nearly always billed in
    /// one currency, and its totals are then made and dropped without allocating.
    first: Option<(Text, Decimal)>,
    /// Any further currencies', in first-seen order.
    more: Vec<(Text, Decimal)>,
}

impl CurrencyTotals {
    /// Adds one cost. `false`, with the totals unchanged, when it is not a plain decimal amount
    /// and a currency or when its currency's sum would overflow: the caller counts the call as
    /// one without a usable cost.
    pub(crate) fn add(&mut self, cost: &str) -> bool {
        let Some((amount, currency)) = cost.split_once(' ') else {
            return false;
        };
        let Ok(amount) = Decimal::parse(amount) else {
            return false;
        };
        let found = self
            .first
            .iter_mut()
            .chain(self.more.iter_mut())
            .find(|(c, _)| c.as_str() == currency);
        match found {
            Some((_, sum)) => sum.checked_add(amount).map(|total| *sum = total).is_some(),
            None => {
                let entry = (Text::from(currency), amount);
                match self.first {
                    None => self.first = Some(entry),
                    Some(_) => self.more.push(entry),
                }
                true
            }
        }
    }

    /// How many currencies there are sums for.
    pub(crate) fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.more.len()
    }

    /// Each sum as `"<sum> <currency>"`, written to a string `make` gives, in first-seen order
    /// (`String::new` for fresh ones).
    pub(crate) fn render_each(
        &self,
        mut make: impl FnMut() -> String,
    ) -> impl Iterator<Item = String> {
        self.first
            .iter()
            .chain(self.more.iter())
            .map(move |(currency, sum)| {
                let mut out = make();
                let _ = write!(out, "{sum} {}", currency.as_str());
                out
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(totals: &CurrencyTotals) -> Vec<String> {
        totals.render_each(String::new).collect()
    }

    #[test]
    fn currency_totals_sum_exactly_per_currency_in_first_seen_order() {
        let mut totals = CurrencyTotals::default();
        assert!(totals.add("0.1 USD"));
        assert!(totals.add("2 EUR"));
        assert!(totals.add("0.2 USD"));
        assert_eq!(rendered(&totals), ["0.3 USD", "2 EUR"]);
    }

    #[test]
    fn currency_totals_refuse_what_they_cannot_add() {
        let mut totals = CurrencyTotals::default();
        for cost in ["", "USD", "1.5", "abc USD", "-1 USD", "1e3 USD"] {
            assert!(!totals.add(cost), "{cost:?}");
        }
        assert!(rendered(&totals).is_empty());
        let huge = format!("{} USD", u128::MAX);
        assert!(totals.add(&huge));
        assert!(!totals.add("1 USD"), "an overflowing sum is refused");
        assert_eq!(rendered(&totals), [huge]);
    }
}
