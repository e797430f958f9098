//! Business rules and validation. Nothing here does I/O: values are parsed once at the
//! boundary into types that can only hold valid data ("parse, don't validate").

pub mod booking;
pub mod confirmation;
pub mod order;
pub mod poster;
pub mod presale;
pub mod sections;
pub mod ticket;
pub mod user;
pub mod venue;

use serde::Serialize;

/// One rule that one input field broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field's name as the client sent it (camelCase, dotted for nested fields).
    pub field: String,
    /// What is wrong, in words a person can act on.
    pub message: String,
}

/// Invalid input: every rule it broke, by field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid input: {0:?}")]
pub struct Invalid(pub Vec<FieldError>);

impl Invalid {
    /// A single broken rule.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self(vec![FieldError { field: field.into(), message: message.into() }])
    }
}

/// Collects the errors of several fields so that one response names them all.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    /// Records the error of `result` under `field`, giving back the value when it is valid.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.errors.push(FieldError { field: field.into(), message });
                None
            }
        }
    }

    /// Like [`Validator::check`] for a field the client must send.
    pub fn require<'a, T, F>(&mut self, field: &str, raw: Option<&'a str>, parse: F) -> Option<T>
    where
        F: FnOnce(&'a str) -> Result<T, String>,
    {
        match raw {
            Some(raw) => self.check(field, parse(raw)),
            None => self.check(field, Err("is required".into())),
        }
    }

    /// Records an error that is not the result of parsing one value.
    pub fn reject(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError { field: field.into(), message: message.into() });
    }

    /// `Ok` when nothing was recorded.
    pub fn finish(self) -> Result<(), Invalid> {
        self.finish_with(Some(()))
    }

    /// The parsed values when nothing was recorded; pass them combined with `Option::zip`.
    pub fn finish_with<T>(self, values: Option<T>) -> Result<T, Invalid> {
        match values {
            Some(values) if self.errors.is_empty() => Ok(values),
            // A `None` without a recorded error would be a bug in the caller; still answer 400.
            None if self.errors.is_empty() => Err(Invalid::field("body", "is incomplete")),
            _ => Err(Invalid(self.errors)),
        }
    }
}
