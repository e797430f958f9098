//! The fake's reading of Stripe's request parameters: form bodies (a GET's query string)
//! with `a[b][c]` keys, checked as Stripe checks them.

use axum::http::{HeaderMap, Method, Uri, header};
use serde_json::{Map, Value, json};

use super::{Refusal, invalid, missing};

/// A request's form parameters, keys as sent (`line_items[0][price_data][currency]`).
pub(super) struct Form(pub(super) Vec<(String, String)>);

impl Form {
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Refuses any parameter outside `known`, where `#` stands for a list index and `*`
    /// for a metadata key.
    pub(super) fn only(&self, known: &[&str]) -> Result<(), Refusal> {
        for (key, _) in &self.0 {
            if !known.contains(&shape(key).as_str()) {
                let message = format!("Received unknown parameter: {key}");
                return Err(invalid(Some("parameter_unknown"), Some(key), message));
            }
        }
        Ok(())
    }

    pub(super) fn required(&self, key: &str) -> Result<&str, Refusal> {
        self.get(key).filter(|v| !v.is_empty()).ok_or_else(|| missing(key))
    }

    pub(super) fn integer(&self, key: &str) -> Result<Option<i64>, Refusal> {
        let Some(value) = self.get(key) else { return Ok(None) };
        value.parse().map(Some).map_err(|_| {
            invalid(Some("parameter_invalid_integer"), Some(key), format!("Invalid integer: {value}"))
        })
    }

    pub(super) fn url(&self, key: &str) -> Result<Option<String>, Refusal> {
        let Some(value) = self.get(key) else { return Ok(None) };
        match reqwest::Url::parse(value) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(Some(value.to_owned())),
            _ => Err(invalid(Some("url_invalid"), Some(key), "Not a valid URL".to_owned())),
        }
    }

    /// `prefix[key]=value` pairs as an object, within Stripe's limits (50 keys, keys up to
    /// 40 characters, values up to 500).
    pub(super) fn metadata(&self, prefix: &str) -> Result<Value, Refusal> {
        let mut metadata = Map::new();
        for (key, value) in &self.0 {
            let Some(name) = key.strip_prefix(prefix).and_then(|k| k.strip_prefix('[')?.strip_suffix(']'))
            else {
                continue;
            };
            if name.chars().count() > 40 || value.chars().count() > 500 {
                let message = "Metadata keys can be at most 40 characters and values at most 500".to_owned();
                return Err(invalid(None, Some(key), message));
            }
            metadata.insert(name.to_owned(), json!(value));
        }
        if metadata.len() > 50 {
            return Err(invalid(None, Some(prefix), "Metadata can have at most 50 keys".to_owned()));
        }
        Ok(Value::Object(metadata))
    }

    /// The line items' one currency (lowercase) and total.
    pub(super) fn line_items(&self) -> Result<(String, i64), Refusal> {
        let mut indices: Vec<usize> = self
            .0
            .iter()
            .filter_map(|(k, _)| k.strip_prefix("line_items[")?.split(']').next()?.parse().ok())
            .collect();
        indices.sort_unstable();
        indices.dedup();
        if indices.is_empty() {
            return Err(invalid(
                Some("parameter_missing"),
                Some("line_items"),
                "You must specify `line_items` in `payment` mode.".to_owned(),
            ));
        }
        let (mut currency, mut total) = (None::<String>, 0i64);
        for i in indices {
            let item = |field: &str| format!("line_items[{i}]{field}");
            let quantity = self.integer(&item("[quantity]"))?.ok_or_else(|| missing(&item("[quantity]")))?;
            if quantity < 1 {
                let message = "This value must be greater than or equal to 1.".to_owned();
                return Err(invalid(Some("parameter_invalid_integer"), Some(&item("[quantity]")), message));
            }
            let currency_key = item("[price_data][currency]");
            let code = self.required(&currency_key)?;
            if code.len() != 3 || !code.chars().all(|c| c.is_ascii_alphabetic()) {
                return Err(invalid(None, Some(&currency_key), format!("Invalid currency: {code}")));
            }
            let code = code.to_ascii_lowercase();
            if currency.as_ref().is_some_and(|c| *c != code) {
                let message = "All line items must use the same currency".to_owned();
                return Err(invalid(None, Some(&currency_key), message));
            }
            currency = Some(code);
            let unit_key = item("[price_data][unit_amount]");
            let unit = self.integer(&unit_key)?.ok_or_else(|| missing(&unit_key))?;
            if unit < 0 {
                let message = "This value must be greater than or equal to 0.".to_owned();
                return Err(invalid(Some("parameter_invalid_integer"), Some(&unit_key), message));
            }
            // Stripe's ceiling on an amount in most currencies: eight digits.
            if unit > 99_999_999 || quantity > 999_999 {
                let message = "Amounts can be at most 99999999 and quantities at most 999999.".to_owned();
                return Err(invalid(Some("amount_too_large"), Some(&unit_key), message));
            }
            self.required(&item("[price_data][product_data][name]"))?;
            total += unit * quantity;
        }
        if total < 1 {
            let message = "The Checkout Session's total amount due must be greater than 0.".to_owned();
            return Err(invalid(Some("amount_too_small"), None, message));
        }
        Ok((currency.unwrap_or_default(), total))
    }
}

/// A key's shape for [`Form::only`]: list indices as `#`, metadata keys as `*`.
fn shape(key: &str) -> String {
    let mut parts = key.split('[').map(|p| p.trim_end_matches(']'));
    let mut shape = parts.next().unwrap_or_default().to_owned();
    let mut after_metadata = shape == "metadata";
    for part in parts {
        let part = if after_metadata {
            "*"
        } else if !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()) {
            "#"
        } else {
            part
        };
        after_metadata = part == "metadata";
        shape.push_str(&format!("[{part}]"));
    }
    shape
}

/// The request's parameters: a GET's query string, another method's form body (Stripe
/// reads no other body).
pub(super) fn read_form(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<(String, String)>, String> {
    if *method == Method::GET {
        let query = uri.query().unwrap_or_default();
        return serde_urlencoded::from_str(query).map_err(|e| format!("Invalid query string: {e}"));
    }
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Err(format!("Invalid request: unsupported Content-Type {content_type}."));
    }
    serde_urlencoded::from_bytes(body).map_err(|e| format!("Invalid request body: {e}"))
}
